"""Checks that keep the knowledge base healthy beyond what the schema can see.

Used by `visabot kb lint` (and the tests): conflicting alternates, near-duplicate questions,
entries without an official-tier source, entries past their review date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from rapidfuzz import fuzz

from knowledge.matcher import Matcher, Outcome

DUPLICATE_QUESTION_SIMILARITY = 92.0


@dataclass(frozen=True)
class Finding:
    kind: str  # conflict | duplicate | no-official-source | stale
    entry_id: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.entry_id}: {self.detail}"


def conflicts(matcher: Matcher) -> list[Finding]:
    """Phrasings of an entry that the matcher does not answer with that same entry."""
    findings = []
    for entry in matcher.base.entries:
        for text in (entry.question, *entry.alternates):
            result = matcher.match(text)
            if result.outcome is Outcome.ANSWER and result.entry is not None and result.entry.id == entry.id:
                continue
            rivals = ", ".join(f"{c.entry.id} ({c.score})" for c in result.alternatives if c.entry.id != entry.id)
            got = result.entry.id if result.entry else result.outcome.value
            findings.append(Finding("conflict", entry.id, f"{text!r} → {got}; rivals: {rivals or 'none'}"))
    return findings


def duplicates(matcher: Matcher) -> list[Finding]:
    entries = matcher.base.entries
    canon = [matcher.normalizer.canonical(e.question) for e in entries]
    findings = []
    for i, a in enumerate(entries):
        for j in range(i + 1, len(entries)):
            score = fuzz.token_sort_ratio(canon[i], canon[j], processor=None)
            if score >= DUPLICATE_QUESTION_SIMILARITY:
                findings.append(Finding("duplicate", a.id, f"question is {score:.0f}% like {entries[j].id}'s"))
    return findings


def sourcing(matcher: Matcher, today: dt.date | None = None) -> list[Finding]:
    findings = []
    for entry in matcher.base.entries:
        if not entry.has_official_source:
            findings.append(Finding("no-official-source", entry.id, "no source of tier official or copy-of-official"))
        if entry.is_stale(today):
            findings.append(Finding("stale", entry.id, f"review was due {entry.review_due.isoformat()}"))
    return findings


def lint(matcher: Matcher, today: dt.date | None = None) -> list[Finding]:
    return conflicts(matcher) + duplicates(matcher) + sourcing(matcher, today)
