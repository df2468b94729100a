"""Answer quality and speed of our Matcher vs three simple peers, same entries, same questions.

Peers (each wrapped to return a knowledge.matcher.MatchResult: ANSWER with the entry, or DECLINE,
so knowledge.evaluation scores all four identically):
  * difflib   - difflib.get_close_matches(query, phrasings, n=1, cutoff=C), phrasings = every
                entry's question + alternates, lowercased (the query is lowercased too).
  * rapidfuzz - process.extractOne(query, phrasings, scorer=fuzz.WRatio,
                processor=utils.default_process, score_cutoff=C).
  * BM25      - rank_bm25.BM25Okapi, one document per entry (question + alternates), lowercase
                word tokens; decline when the top score is below C.

Fairness: each peer's cutoff is swept per question set over a grid plus every top score the peer
produced on that set, so the reported number is the best any single cutoff can reach on that set
(an oracle, tuned on the very questions it is scored on). Our matcher runs with its shipped
constants, untuned per set. The golden table also shows each peer at the cutoff it chose on dev,
which is what a peer would really ship with.

Run: .venv/bin/python -m bench.peers
"""

from __future__ import annotations

import difflib
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from rank_bm25 import BM25Okapi
from rapidfuzz import fuzz, process, utils

from bench.common import (
    QuestionSet,
    Section,
    fixed_results,
    ms,
    pct,
    percentile,
    question_sets,
    table,
    time_calls,
    verdict,
)
from knowledge import DEFAULT_KNOWLEDGE_DIR
from knowledge.evaluation import EvalReport
from knowledge.loader import KnowledgeBase, load_knowledge_base
from knowledge.matcher import Matcher, MatchResult, Outcome
from knowledge.model import Entry

LATENCY_ROUNDS = 5
LATENCY_BUDGET_S = 15.0  # per matcher; at least one full round always runs


def _answer(query: str, entry: Entry | None, score: float) -> MatchResult:
    if entry is None:
        return MatchResult(query, Outcome.DECLINE, None, 0.0)
    return MatchResult(query, Outcome.ANSWER, entry, float(score))


class Peer:
    name: str
    grid: Sequence[float]
    floor: float  # cutoff at which the raw top-1 (and its score) is computed for the sweep
    cutoff: float

    def top(self, query: str, cutoff: float) -> tuple[Entry | None, float]:
        """The best entry and its score if it reaches `cutoff` (the library call itself)."""
        raise NotImplementedError

    def match(self, query: str) -> MatchResult:
        entry, score = self.top(query, self.cutoff)
        return _answer(query, entry, score)


class DifflibPeer(Peer):
    name = "difflib"
    grid = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    floor = 0.0

    def __init__(self, base: KnowledgeBase, cutoff: float = 0.6):
        self.cutoff = cutoff
        self.entry_of: dict[str, Entry] = {}
        for entry in base.entries:
            for text in (entry.question, *entry.alternates):
                self.entry_of.setdefault(text.lower(), entry)  # a duplicate maps to its first entry
        self.phrasings = list(self.entry_of)

    def top(self, query: str, cutoff: float) -> tuple[Entry | None, float]:
        hits = difflib.get_close_matches(query.lower(), self.phrasings, n=1, cutoff=cutoff)
        if not hits:
            return None, 0.0
        return self.entry_of[hits[0]], math.nan  # score only computed by the sweep

    def top_scored(self, query: str) -> tuple[Entry | None, float]:
        hits = difflib.get_close_matches(query.lower(), self.phrasings, n=1, cutoff=self.floor)
        if not hits:
            return None, 0.0
        # Same argument order as get_close_matches (seq1 = candidate, seq2 = query).
        return self.entry_of[hits[0]], difflib.SequenceMatcher(None, hits[0], query.lower()).ratio()


class RapidfuzzPeer(Peer):
    name = "rapidfuzz WRatio"
    grid = (50, 60, 70, 80, 85, 90, 95)
    floor = 0.0

    def __init__(self, base: KnowledgeBase, cutoff: float = 80):
        self.cutoff = cutoff
        self.phrasings: list[str] = []
        self.entries: list[Entry] = []
        for entry in base.entries:
            for text in (entry.question, *entry.alternates):
                self.phrasings.append(text)
                self.entries.append(entry)

    def top(self, query: str, cutoff: float) -> tuple[Entry | None, float]:
        hit = process.extractOne(
            query, self.phrasings, scorer=fuzz.WRatio, processor=utils.default_process, score_cutoff=cutoff
        )
        if hit is None:
            return None, 0.0
        return self.entries[hit[2]], hit[1]


_WORD_RE = re.compile(r"\w+")


def bm25_tokens(text: str) -> list[str]:
    return _WORD_RE.findall(text.lower())


class BM25Peer(Peer):
    name = "BM25 (rank_bm25 Okapi)"
    grid = (0, 2, 4, 6, 8, 10, 12, 15, 20)
    floor = -math.inf

    def __init__(self, base: KnowledgeBase, cutoff: float = 8.0):
        self.cutoff = cutoff
        self.entries = list(base.entries)
        self.bm25 = BM25Okapi([bm25_tokens(" ".join((e.question, *e.alternates))) for e in self.entries])

    def top(self, query: str, cutoff: float) -> tuple[Entry | None, float]:
        tokens = bm25_tokens(query)
        if not tokens:
            return None, 0.0
        scores = self.bm25.get_scores(tokens)
        best = int(scores.argmax())
        if scores[best] < cutoff:
            return None, 0.0
        return self.entries[best], float(scores[best])


@dataclass
class SweepResult:
    cutoff: float
    score: EvalReport
    curve: list[tuple[float, EvalReport]]  # the grid points, for the report
    candidates: int
    raw: dict[str, tuple[Entry | None, float]]


def _score_at(qset: QuestionSet, raw: dict[str, tuple[Entry | None, float]], cutoff: float) -> EvalReport:
    results = {
        q: _answer(q, e, s) if e is not None and s >= cutoff else _answer(q, None, 0.0) for q, (e, s) in raw.items()
    }
    return qset.score(fixed_results(results))


def sweep(peer: Peer, qset: QuestionSet) -> SweepResult:
    """Best cutoff on this set: every grid point and every observed top score is tried."""
    scored = getattr(peer, "top_scored", None) or (lambda q: peer.top(q, peer.floor))
    raw = {q: scored(q) for q in dict.fromkeys(qset.questions)}
    observed = {s for e, s in raw.values() if e is not None}
    candidates = sorted(set(peer.grid) | observed | {max(observed, default=0) + 1})  # last: decline all
    best_cutoff, best = None, None
    for c in candidates:
        s = _score_at(qset, raw, c)
        key = (s.combined, -s.wrong_answers, s.decline_rate)
        if best is None or key > (best.combined, -best.wrong_answers, best.decline_rate):
            best_cutoff, best = c, s
    curve = [(c, _score_at(qset, raw, c)) for c in peer.grid]
    return SweepResult(best_cutoff, best, curve, len(candidates), raw)  # type: ignore[arg-type]


def _fmt_cutoff(c: float) -> str:
    return f"{c:.3g}" if isinstance(c, float) else str(c)


@dataclass
class Row:
    name: str
    cutoff: str
    score: EvalReport
    dev_tuned: EvalReport | None = None


def run(verbose: bool = True) -> Section:
    def log(msg: str) -> None:
        if verbose:
            print(f"[peers] {msg}", flush=True)

    base = load_knowledge_base(DEFAULT_KNOWLEDGE_DIR)
    sets = question_sets()
    log(f"{len(base.entries)} entries; question sets: " + ", ".join(f"{s.name} ({len(s.questions)})" for s in sets))

    builds: dict[str, float] = {}
    t0 = time.perf_counter()
    ours = Matcher(base)
    builds["visabot Matcher"] = time.perf_counter() - t0
    peers: list[Peer] = []
    for cls in (DifflibPeer, RapidfuzzPeer, BM25Peer):
        t0 = time.perf_counter()
        peers.append(cls(base))
        builds[cls.name] = time.perf_counter() - t0

    rows: dict[str, list[Row]] = {s.name: [Row("visabot Matcher", "shipped constants", s.score(ours))] for s in sets}
    sweeps: dict[tuple[str, str], SweepResult] = {}
    mismatches: list[str] = []
    for peer in peers:
        for qset in sets:
            t0 = time.perf_counter()
            sw = sweep(peer, qset)
            sweeps[(peer.name, qset.name)] = sw
            # Score the real library call at the chosen cutoff; it must agree with the sweep.
            peer.cutoff = sw.cutoff
            real = qset.score(peer)
            if (real.in_scope_passed, real.declined) != (sw.score.in_scope_passed, sw.score.declined):
                mismatches.append(f"{peer.name}/{qset.name}: sweep {sw.score.combined:.3f} vs real {real.combined:.3f}")
            row = Row(peer.name, _fmt_cutoff(sw.cutoff), real)
            if qset.name != "dev":
                row.dev_tuned = _score_at(qset, sw.raw, sweeps[(peer.name, "dev")].cutoff)
            rows[qset.name].append(row)
            log(f"{peer.name} on {qset.name}: best cutoff {_fmt_cutoff(sw.cutoff)} -> {real.combined:.3f} "
                f"({sw.candidates} cutoffs tried, {time.perf_counter() - t0:.1f}s)")

    # Latency: every question of every set, at the cutoff the peer chose on dev.
    questions = [q for s in sets for q in s.questions]
    latency: dict[str, list[float]] = {}
    for name, matcher in [("visabot Matcher", ours), *[(p.name, p) for p in peers]]:
        if isinstance(matcher, Peer):
            matcher.cutoff = sweeps[(matcher.name, "dev")].cutoff
        for q in questions[:5]:
            matcher.match(q)  # warm-up
        latency[name] = time_calls(matcher.match, questions, LATENCY_ROUNDS, LATENCY_BUDGET_S)
        log(f"latency {name}: mean {ms(sum(latency[name]) / len(latency[name]))} ms over {len(latency[name])} calls")

    # ---- report
    parts = [
        f"{len(base.entries)} shipped entries. Question sets: "
        + ", ".join(f"`{s.name}` ({len(s.questions)} questions)" for s in sets)
        + ("" if any(s.name == "golden" for s in sets) else " — `tests/golden_questions.yaml` not present at run time, dev only")
        + ".",
        "",
        ("**Fairness.** Each peer's cutoff was swept per question set over a grid plus every top score the peer "
        "produced on that set, and the table shows the *best* combined score any single cutoff reaches "
        "(an oracle cutoff, tuned on the very questions it is scored on). Our matcher runs with its shipped "
        "constants. In-scope on dev = answered and the answer text matches every `expect` pattern "
        "(knowledge/evaluation.py); in-scope on golden = answered with one of the `expect` entry ids. "
        "Combined = mean of in-scope accuracy and off-topic decline rate. *Wrong answers* = confident answers "
        "that were wrong (wrong entry or off-topic answered) — the costly failure. *In-scope clarified* = in-scope "
        "questions where our matcher asked which of 2–3 entries was meant (scored as a miss; the peers cannot clarify)."),
    ]
    for qset in sets:
        unknown = [i for i in qset.items if i.expect_ids and not any(base.get(x) for x in i.expect_ids)]
        if unknown:
            parts += ["", f"Note: {len(unknown)} {qset.name} in-scope item(s) expect only entry ids absent from the shipped "
                      "knowledge base, so no matcher can pass them: "
                      + "; ".join(f"{i.question!r} → {list(i.expect_ids)}" for i in unknown[:10])
                      + (" …" if len(unknown) > 10 else "")]
    for qset in sets:
        has_dev_col = qset.name != "dev"
        headers = ["Matcher", "Cutoff (best)", "In-scope accuracy", "Off-topic declined", "Combined", "Wrong answers", "In-scope clarified"]
        if has_dev_col:
            headers.append("Combined at dev-tuned cutoff")
        body = []
        for r in rows[qset.name]:
            s = r.score
            row = [r.name, r.cutoff, f"{pct(s.accuracy)} ({s.in_scope_passed}/{s.in_scope})",
                   f"{pct(s.decline_rate)} ({s.declined}/{s.out_of_scope})", f"**{s.combined:.3f}**", s.wrong_answers, s.clarified]
            if has_dev_col:
                row.append(f"{r.dev_tuned.combined:.3f}" if r.dev_tuned else "—")
            body.append(row)
        parts += ["", f"#### Quality on `{qset.name}`", "", table(headers, body)]
    lat_rows = []
    for name, samples in latency.items():
        lat_rows.append([name, ms(builds[name]), ms(sum(samples) / len(samples)), ms(percentile(samples, 50)),
                         ms(percentile(samples, 99)), len(samples)])
    parts += [
        "",
        "#### Speed (shipped entries; all questions above; peers at their dev-tuned cutoff)",
        "",
        table(["Matcher", "Index build ms", "Mean ms/question", "p50 ms", "p99 ms", "Calls timed"], lat_rows),
    ]
    curve_lines = []
    for (pname, sname), sw in sweeps.items():
        pts = ", ".join(f"{_fmt_cutoff(c)}→{s.combined:.2f}" for c, s in sw.curve)
        curve_lines.append(f"- {pname} on {sname}: {pts}; best {_fmt_cutoff(sw.cutoff)}→{sw.score.combined:.3f} "
                           f"({sw.candidates} cutoffs tried)")
    parts += ["", "<details><summary>Cutoff sweeps (grid points; combined score)</summary>", "", *curve_lines, "", "</details>"]
    if mismatches:
        parts += ["", "**Warning:** sweep and real library call disagreed: " + "; ".join(mismatches)]

    targets = []
    for qset in sets:
        ours_c = rows[qset.name][0].score.combined
        best_peer = max(rows[qset.name][1:], key=lambda r: r.score.combined)
        targets.append((
            f"Matcher beats every peer's best on `{qset.name}`",
            f"{ours_c:.3f} vs best peer {best_peer.name} {best_peer.score.combined:.3f}",
            ours_c > best_peer.score.combined,
        ))
    md = "\n".join(parts)
    return Section("Answer quality vs peers", md, targets)


def main() -> None:
    section = run()
    print()
    print(section.markdown)
    for target, measured, ok in section.targets:
        print(f"- {target}: {measured} — {verdict(ok)}")


if __name__ == "__main__":
    main()
