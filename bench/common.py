"""Shared pieces of the benchmarks: question sets (scored by knowledge/evaluation.py), typos,
percentiles, report tables."""

from __future__ import annotations

import datetime as dt
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from knowledge.evaluation import (
    Answerer,
    EvalItem,
    EvalReport,
    evaluate,
    load_eval_items,
)
from knowledge.matcher import MatchResult

REPO = Path(__file__).resolve().parents[1]
DEV_SET = REPO / "eval" / "dev.yaml"
REGRESSION_SET = REPO / "eval" / "regression.yaml"
REAL_TRAIN = REPO / "eval" / "real" / "train.yaml"
REAL_VALIDATION = REPO / "eval" / "real" / "validation.yaml"
REAL_TEST = REPO / "eval" / "real" / "test.yaml"


# ---------------------------------------------------------------- question sets


@dataclass
class QuestionSet:
    name: str
    items: list[EvalItem]

    @property
    def questions(self) -> list[str]:
        return [i.question for i in self.items]

    def score(self, answerer: Answerer) -> EvalReport:
        return evaluate(answerer, self.items)


# (name, path) in report order. The real sets are being collected: a missing file is skipped.
SET_FILES = (
    ("dev", DEV_SET),
    ("regression", REGRESSION_SET),
    ("real-train", REAL_TRAIN),
    ("real-validation", REAL_VALIDATION),
    ("real-test", REAL_TEST),
)


def question_sets() -> list[QuestionSet]:
    """Every question set whose file exists, in SET_FILES order (the real ones may not exist yet)."""
    return [QuestionSet(name, load_eval_items(path)) for name, path in SET_FILES if path.exists()]


def all_questions() -> list[str]:
    return [q for s in question_sets() for q in s.questions]


def spread(items: Sequence[str], limit: int) -> list[str]:
    """At most `limit` distinct items taken evenly from the whole list, so that every question set
    (they are concatenated in order) is represented when timing needs only a sample."""
    unique = list(dict.fromkeys(items))
    step = max(1, -(-len(unique) // limit))
    return unique[::step][:limit]


# ---------------------------------------------------------------- typos

_KEYBOARD = {
    c: n
    for row in ("qwertyuiop", "asdfghjkl", "zxcvbnm")
    for i, c in enumerate(row)
    for n in [row[max(i - 1, 0)] + row[min(i + 1, len(row) - 1)]]
}


def typo(text: str, rng: random.Random, count: int = 2) -> str:
    """Add `count` typos (swap, drop, double, neighbouring key) to words of 4+ ASCII letters."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 4 and w.isascii() and w.isalpha()]
    if not candidates:
        return text
    for i in rng.sample(candidates, min(count, len(candidates))):
        w = words[i]
        p = rng.randrange(1, len(w) - 1)
        kind = rng.randrange(4)
        if kind == 0:
            w = w[:p] + w[p + 1] + w[p] + w[p + 2 :]
        elif kind == 1:
            w = w[:p] + w[p + 1 :]
        elif kind == 2:
            w = w[:p] + w[p] + w[p:]
        else:
            w = w[:p] + rng.choice(_KEYBOARD.get(w[p].lower(), "e")) + w[p + 1 :]
        words[i] = w
    return " ".join(words)


def with_typos(questions: Iterable[str], seed: int = 7) -> list[str]:
    """Each question followed by a typo'd variant of it."""
    rng = random.Random(seed)
    out = []
    for q in questions:
        out.append(q)
        out.append(typo(q, rng))
    return out


# ---------------------------------------------------------------- timing & reporting


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation): p99 of 200 samples is the 198th smallest."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def time_calls(
    fn: Callable[[str], object], queries: Sequence[str], rounds: int, budget_s: float | None = None
) -> list[float]:
    """Per-call wall times in seconds over `rounds` passes (stops early once past `budget_s`)."""
    samples: list[float] = []
    start = time.perf_counter()
    for _ in range(rounds):
        for q in queries:
            t0 = time.perf_counter()
            fn(q)
            samples.append(time.perf_counter() - t0)
        if budget_s is not None and time.perf_counter() - start > budget_s:
            break
    return samples


def ms(seconds: float) -> str:
    ms_ = seconds * 1000
    return f"{ms_:.2f}" if ms_ < 10 else f"{ms_:.1f}" if ms_ < 100 else f"{ms_:.0f}"


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(ok: bool | None) -> str:
    """PASS / FAIL; None means the target could not be measured (its question set is missing)."""
    if ok is None:
        return "not measured"
    return "PASS" if ok else "**FAIL**"


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return {
        "CPU": cpu,
        "Cores": str(os.cpu_count()),
        "RAM": ram,
        "OS": f"{platform.system()} {platform.release()}",
        "Python": sys.version.split()[0] + f" ({platform.python_implementation()})",
        "Date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
    }


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


@dataclass
class Section:
    """One benchmark's contribution to RESULTS.md."""

    title: str
    markdown: str
    targets: list[tuple[str, str, bool | None]] = field(
        default_factory=list
    )  # (target, measured, ok)
    appendix: bool = False  # written after every other section (long listings)


def fixed_results(results: dict[str, MatchResult]) -> Answerer:
    """An answerer that replays precomputed results (used by the cutoff sweeps)."""

    class _Replay:
        def match(self, query: str) -> MatchResult:
            return results[query]

    return _Replay()


def print_section(section: Section) -> None:
    """A benchmark run on its own (`python -m bench.X`): its report, then its targets."""
    print()
    print(section.markdown)
    for target, measured, ok in section.targets:
        print(f"- {target}: {measured} — {verdict(ok)}")
