"""Score the matcher on a question file: eval/dev.yaml, eval/regression.yaml or eval/real/*.yaml.

An in-scope item passes when the matcher answers (not clarify, not decline) with the right entry:
in dev.yaml every `expect` pattern is found in the answer plus caveats; in the id-labelled sets
`ids` lists entry ids, any of which is right. An item to decline (`expect_no_match: true`, or
`decline: out-of-scope | missing`) passes when the matcher does not answer. The combined score is the mean of the two rates, so declining off-topic
questions weighs as much as answering on-topic ones. The benchmarks score every matcher, ours and
its peers, with this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from knowledge.entry_file import safe_load
from knowledge.matcher import MatchResult, Outcome

DECLINE_REASONS = frozenset({"out-of-scope", "missing"})


class Answerer(Protocol):
    def match(self, query: str) -> MatchResult: ...


@dataclass(frozen=True)
class EvalItem:
    question: str
    topic: str = ""
    expect: tuple[str, ...] = ()  # patterns the answer text must contain
    expect_no_match: bool = False
    expect_ids: tuple[str, ...] = ()  # or: entry ids, any of which is a right answer
    decline_reason: str = (
        ""  # for expect_no_match: "out-of-scope", or "missing" (in scope, no entry)
    )
    lang: str = ""
    site: str = ""
    url: str = ""


@dataclass
class Failure:
    item: EvalItem
    result: MatchResult
    reason: str


@dataclass
class EvalReport:
    in_scope: int = 0
    in_scope_passed: int = 0
    out_of_scope: int = 0
    declined: int = 0
    failures: list[Failure] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.in_scope_passed / self.in_scope if self.in_scope else 1.0

    @property
    def decline_rate(self) -> float:
        return self.declined / self.out_of_scope if self.out_of_scope else 1.0

    @property
    def combined(self) -> float:
        return (self.accuracy + self.decline_rate) / 2

    @property
    def wrong_answers(self) -> int:
        """Confident answers that were wrong (wrong entry, or off-topic answered): the costly
        failure, where a decline or a clarifying question is merely unhelpful."""
        return sum(1 for f in self.failures if f.result.outcome is Outcome.ANSWER)

    @property
    def clarified(self) -> int:
        """In-scope questions answered with a clarifying question (counted as misses)."""
        return sum(
            1
            for f in self.failures
            if f.result.outcome is Outcome.CLARIFY and not f.item.expect_no_match
        )


def _read_items(path: Path) -> list[dict[str, Any]]:
    data = safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of question items")
    for n, raw in enumerate(data, 1):
        if not isinstance(raw, dict) or not isinstance(raw.get("q"), str):
            raise ValueError(f"{path}: item {n} has no 'q' string")
    return data


def _item(path: Path, n: int, raw: dict[str, Any]) -> EvalItem:
    """One item in either format: dev.yaml's (`expect` patterns or `expect_no_match`) or the
    id-labelled one of eval/regression.yaml and eval/real/ (`ids`, or `decline` with a reason)."""
    decline = raw.get("decline")
    if decline is not None and decline not in DECLINE_REASONS:
        raise ValueError(f"{path}: item {n}: decline must be one of {sorted(DECLINE_REASONS)}")
    ids = tuple(raw.get("ids") or ())
    expect = tuple(raw.get("expect") or ())
    no_match = bool(raw.get("expect_no_match", False)) or decline is not None
    if sum(map(bool, (ids, expect, no_match))) != 1:
        raise ValueError(
            f"{path}: item {n} needs exactly one of ids, expect, decline/expect_no_match"
        )
    return EvalItem(
        question=raw["q"],
        topic=str(raw.get("topic", "")),
        expect=expect,
        expect_no_match=no_match,
        expect_ids=ids,
        decline_reason=str(decline or ("out-of-scope" if no_match else "")),
        lang=str(raw.get("lang", "")),
        site=str(raw.get("site", "")),
        url=str(raw.get("url", "")),
    )


def load_eval_items(path: Path) -> list[EvalItem]:
    """The items of a question file (see `_item` for the formats)."""
    return [_item(path, n, raw) for n, raw in enumerate(_read_items(path), 1)]


def judge(item: EvalItem, result: MatchResult) -> str | None:
    """None when the item passes, else the reason it failed."""
    if item.expect_no_match:
        if result.outcome is Outcome.ANSWER and result.entry is not None:
            return f"answered {result.entry.id} ({result.score}) instead of declining"
        return None
    if result.outcome is not Outcome.ANSWER or result.entry is None:
        options = ", ".join(f"{c.entry.id} ({c.score})" for c in result.alternatives) or "none"
        return f"{result.outcome.value} (score {result.score}; candidates: {options})"
    if item.expect_ids:
        if result.entry.id not in item.expect_ids:
            return f"answered {result.entry.id} ({result.score}), expected one of {list(item.expect_ids)}"
        return None
    text = "\n".join([result.entry.answer, *result.entry.caveats])
    missing = [p for p in item.expect if not re.search(p, text, re.IGNORECASE)]
    if missing:
        return f"answered {result.entry.id} ({result.score}) but missing {missing}"
    return None


def evaluate(answerer: Answerer, items: list[EvalItem]) -> EvalReport:
    report = EvalReport()
    for item in items:
        result = answerer.match(item.question)
        reason = judge(item, result)
        if item.expect_no_match:
            report.out_of_scope += 1
            report.declined += reason is None
        else:
            report.in_scope += 1
            report.in_scope_passed += reason is None
        if reason:
            report.failures.append(Failure(item, result, reason))
    return report
