"""Score any matcher's answers on a question set the same way, and choose a peer's decline cutoff.

Every matcher, ours and the peers, is first run once per distinct question; its answers are kept
as MatchResults and its best entry as a `Top` (entry, score). Scoring then replays those answers
through knowledge.evaluation.evaluate, so all matchers are judged by the same code, and a peer can
be scored at any cutoff without being run again.

Counts reported per set (a `Tally`):
  * in-scope right: answered (not clarified, not declined) with a right entry;
  * wrong answers: in-scope questions answered with a wrong entry (the costly failure; an
    off-topic question answered shows up as a miss in the declined columns instead);
  * out-of-scope declined / 'missing' declined: items to decline, by their `decline` reason;
  * right entry on top: the matcher's best entry is right, whatever its score or outcome;
  * combined: EvalReport.combined, the mean of in-scope accuracy and the decline rate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from bench.common import fixed_results
from knowledge.evaluation import EvalItem, EvalReport, evaluate, judge
from knowledge.matcher import MatchResult, Outcome
from knowledge.model import Entry

Top = tuple[
    Entry | None, float
]  # a matcher's best entry for a question (None: nothing) and its score

LANGS = ("en", "zh-hans", "zh-hant", "hi", "hinglish", "other")
_LANG_ALIASES = {
    "en": "en",
    "english": "en",
    "zh-hans": "zh-hans",
    "zh-cn": "zh-hans",
    "zh-sg": "zh-hans",
    "zh": "zh-hans",
    "zh-hant": "zh-hant",
    "zh-tw": "zh-hant",
    "zh-hk": "zh-hant",
    "zh-mo": "zh-hant",
    "hi": "hi",
    "hindi": "hi",
    "hinglish": "hinglish",
    "hi-latn": "hinglish",
}


def lang_bucket(lang: str) -> str:
    """The report's language row for an item's `lang` label (unknown or empty: 'other')."""
    return _LANG_ALIASES.get(lang.strip().lower().replace("_", "-"), "other")


def answer_at(query: str, top: Top, cutoff: float) -> MatchResult:
    """What a peer says at `cutoff`: its best entry when the score reaches the cutoff, else decline."""
    entry, score = top
    if entry is None or score < cutoff:
        return MatchResult(query, Outcome.DECLINE, None, 0.0)
    return MatchResult(query, Outcome.ANSWER, entry, float(score))


def top_is_right(item: EvalItem, top: Top) -> bool:
    """Would answering with the best entry be right? (judge() on a forced answer)."""
    if item.expect_no_match or top[0] is None:
        return False
    return judge(item, MatchResult(item.question, Outcome.ANSWER, top[0], top[1])) is None


# ---------------------------------------------------------------- tallies


@dataclass
class Tally:
    in_scope: int = 0
    right: int = 0
    wrong: int = 0
    clarified: int = 0
    out_of_scope: int = 0
    out_of_scope_declined: int = 0
    missing: int = 0
    missing_declined: int = 0
    top_right: int = 0
    combined: float = math.nan

    @property
    def right_rate(self) -> float:
        return self.right / self.in_scope if self.in_scope else math.nan

    @property
    def wrong_rate(self) -> float:
        return self.wrong / self.in_scope if self.in_scope else math.nan

    @property
    def out_of_scope_rate(self) -> float:
        return self.out_of_scope_declined / self.out_of_scope if self.out_of_scope else math.nan

    @property
    def missing_rate(self) -> float:
        return self.missing_declined / self.missing if self.missing else math.nan


def tally(
    items: Sequence[EvalItem], results: dict[str, MatchResult], tops: dict[str, Top]
) -> tuple[Tally, EvalReport]:
    """Score replayed answers with knowledge.evaluation.evaluate and split the counts for the report."""
    report = evaluate(fixed_results(results), list(items))
    failed = {id(f.item): f for f in report.failures}
    t = Tally(combined=report.combined)
    for item in items:
        failure = failed.get(id(item))
        if item.expect_no_match:
            if item.decline_reason == "missing":
                t.missing += 1
                t.missing_declined += failure is None
            else:
                t.out_of_scope += 1
                t.out_of_scope_declined += failure is None
            continue
        t.in_scope += 1
        t.right += failure is None
        t.top_right += top_is_right(item, tops[item.question])
        if failure is not None:
            t.wrong += failure.result.outcome is Outcome.ANSWER
            t.clarified += failure.result.outcome is Outcome.CLARIFY
    return t, report


def by_language(items: Iterable[EvalItem]) -> dict[str, list[EvalItem]]:
    """Items grouped by report language, every one of LANGS in order (some may be empty)."""
    groups: dict[str, list[EvalItem]] = {lang: [] for lang in LANGS}
    for item in items:
        groups[lang_bucket(item.lang)].append(item)
    return groups


# ---------------------------------------------------------------- cutoffs


@dataclass
class Sweep:
    """How a peer's combined score on some questions depends on its cutoff."""

    scores: np.ndarray  # best-entry score per item (-inf: no entry)
    right: np.ndarray  # in-scope item whose best entry is right
    in_scope: np.ndarray  # item is in scope (else: to decline)

    @classmethod
    def of(cls, items: Sequence[EvalItem], tops: dict[str, Top]) -> Sweep:
        scores = [
            tops[i.question][1] if tops[i.question][0] is not None else -math.inf for i in items
        ]
        return cls(
            np.array(scores, dtype=float),
            np.array([top_is_right(i, tops[i.question]) for i in items], dtype=bool),
            np.array([not i.expect_no_match for i in items], dtype=bool),
        )

    def combined(self, cutoff: float) -> tuple[float, int]:
        """(combined score, confident wrong answers) at `cutoff`: the same rules as judge(), in
        arrays, so thousands of cutoffs cost little. The chosen one is re-scored by evaluate()."""
        answered = self.scores >= cutoff
        n_in, n_out = int(self.in_scope.sum()), int((~self.in_scope).sum())
        accuracy = (answered & self.right).sum() / n_in if n_in else 1.0
        declined = (~answered & ~self.in_scope).sum() / n_out if n_out else 1.0
        wrong = int(
            (answered & ~self.right).sum()
        )  # in-scope wrong entry, or answered a decline item
        return (accuracy + declined) / 2, wrong

    def answered(self, cutoff: float) -> int:
        return int((self.scores >= cutoff).sum())

    def candidates(self, grid: Iterable[float]) -> list[float]:
        """Every cutoff that gives a different outcome: midway between neighbouring observed
        scores (so the cutoff does not sit exactly on one question's score), one below the lowest
        (answer everything) and one above the highest (decline everything), plus the grid."""
        observed = np.unique(self.scores[np.isfinite(self.scores)])
        if observed.size == 0:
            return sorted(set(grid))
        mids = (observed[:-1] + observed[1:]) / 2
        edges = [float(observed[0]), math.nextafter(float(observed[-1]), math.inf)]
        return sorted({*map(float, mids), *edges, *grid})

    def best(self, grid: Iterable[float]) -> tuple[float, float]:
        """(cutoff, combined) maximising combined; ties go to fewer wrong answers, then the lowest."""
        best_key, best_cutoff = None, math.inf
        for c in self.candidates(grid):
            combined, wrong = self.combined(c)
            key = (round(combined, 12), -wrong)
            if best_key is None or key > best_key:
                best_key, best_cutoff = key, c
        return best_cutoff, self.combined(best_cutoff)[0]
