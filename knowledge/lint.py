"""Checks that keep the knowledge base healthy beyond what the schema can see.

Used by `visabot kb lint` (and the tests): conflicting alternates, near-duplicate questions,
entries without an official-tier source, entries past their review date, broken related ids,
sources whose publisher knowledge/publishers.yaml does not list, dated rules past their end.

Severity: a missing official-tier source and a lapsed rule are warnings, everything else is an
error. Many shipped entries rest on law firms or news because the official pages could not be
retrieved; the model already refuses status official for them, so they are listed for follow-up,
not refused. An unlisted publisher is an error: its tier would be the citer's guess, not the table's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz import fuzz

from knowledge.bilingual import NO_CHINESE, check_all, english_numbers
from knowledge.caveats import CaveatUse, SharedCaveats, load_shared_caveats, near_copies
from knowledge.entry_file import read_entry_file
from knowledge.loader import (
    ENTRIES_DIRNAME,
    SYNONYMS_FILENAME,
    KnowledgeBase,
    KnowledgeError,
    Problem,
    load_knowledge_base,
    load_synonyms,
    parse_entry_text,
)
from knowledge.matcher import Matcher
from knowledge.model import Entry
from knowledge.publishers import tier_of_url

DUPLICATE_QUESTION_SIMILARITY = 92.0
# Every entry has both languages: "untranslated" (no Chinese text) is an error like "chinese" (a
# translation out of step or stating other numbers), so a new entry cannot ship English-only.
WARNING_KINDS = frozenset({"no-official-source", "lapsed", "shared-caveat"})


@dataclass(frozen=True)
class Finding:
    kind: str  # lapsed | conflict | duplicate | no-official-source | unlisted-publisher | stale | broken-related | chinese | untranslated | shared-caveat | summary
    entry_id: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.entry_id}: {self.detail}"

    @property
    def is_error(self) -> bool:
        return self.kind not in WARNING_KINDS


def conflicts_of(matcher: Matcher, entry: Entry) -> list[Finding]:
    """Phrasings of one entry that the decision model does not put first: another entry leads or
    ties with it, or it is no candidate at all. Such a phrasing is still answered with its entry
    when asked word for word (the matcher's OwnPhrasings), but a user's rewording of it would go
    elsewhere; a phrasing two entries share is answered by neither."""
    findings = []
    for text in (entry.question, *entry.alternates):
        ranked, clear = matcher.clear_first(text)
        if clear and ranked[0].entry.id == entry.id:
            continue
        rivals = ", ".join(f"{c.entry.id} ({c.score})" for c in ranked if c.entry.id != entry.id)
        got = ranked[0].entry.id if ranked else "no candidate"
        findings.append(
            Finding("conflict", entry.id, f"{text!r} → {got}; rivals: {rivals or 'none'}")
        )
    return findings


def conflicts(matcher: Matcher) -> list[Finding]:
    """Phrasings of an entry that the matcher does not answer with that same entry."""
    return [f for entry in matcher.base.entries for f in conflicts_of(matcher, entry)]


def duplicates(matcher: Matcher) -> list[Finding]:
    entries = matcher.base.entries
    canon = [matcher.normalizer.canonical(e.question) for e in entries]
    findings = []
    for i, a in enumerate(entries):
        for j in range(i + 1, len(entries)):
            score = fuzz.token_sort_ratio(canon[i], canon[j], processor=None)
            if score >= DUPLICATE_QUESTION_SIMILARITY:
                findings.append(
                    Finding("duplicate", a.id, f"question is {score:.0f}% like {entries[j].id}'s")
                )
    return findings


def sourcing(matcher: Matcher, today: dt.date | None = None) -> list[Finding]:
    findings = []
    for entry in matcher.base.entries:
        if not entry.has_official_source:
            findings.append(
                Finding(
                    "no-official-source", entry.id, "no source of tier official or copy-of-official"
                )
            )
        cited = [*entry.sources, *(h.source for h in entry.history)]
        for url in dict.fromkeys(s.url for s in cited):
            if tier_of_url(url) is None:
                findings.append(
                    Finding(
                        "unlisted-publisher",
                        entry.id,
                        f"add its host to knowledge/publishers.yaml: {url}",
                    )
                )
        if entry.is_stale(today):
            findings.append(
                Finding("stale", entry.id, f"review was due {entry.review_due.isoformat()}")
            )
    return findings


def broken_related(entries: Sequence[Entry]) -> list[Finding]:
    """Related ids that name no entry. The loader refuses these too; lint reports them among the
    other findings (see lint_folder) so one run shows everything to fix."""
    ids = {e.id for e in entries}
    return [
        Finding("broken-related", e.id, f"related id {rel!r} does not exist")
        for e in entries
        for rel in e.related
        if rel not in ids
    ]


def lapsed(entries: Sequence[Entry], today: dt.date | None = None) -> list[Finding]:
    """Dated rules past their own end: users already see them as unclear, so they come first."""
    return [
        Finding(
            "lapsed",
            e.id,
            f"rule set to end {e.in_force_until}; update the entry (check {e.in_force_check})",
        )
        for e in entries
        if e.lapsed(today)
    ]


def lint(matcher: Matcher, today: dt.date | None = None) -> list[Finding]:
    return (
        lapsed(matcher.base.entries, today)
        + conflicts(matcher)
        + duplicates(matcher)
        + broken_related(matcher.base.entries)
        + sourcing(matcher, today)
        + bilingual(matcher.base)
        + shared_copies(matcher.base.entries, matcher.base.shared)
        + summaries(matcher.base.entries)
    )


def summaries(entries: Sequence[Entry]) -> list[Finding]:
    """A summary stands in for its answer on the first screen: it may leave facts out, never add
    or change one, so every number and date in it must be one the answer states."""
    findings = []
    for entry in entries:
        extra = (
            english_numbers(entry.summary) - english_numbers(entry.answer)
            if entry.summary
            else set()
        )
        if extra:
            findings.append(
                Finding(
                    "summary",
                    entry.id,
                    f"summary states numbers the answer does not: {sorted(extra)}",
                )
            )
    return findings


def shared_copies(entries: Sequence[Entry], shared: SharedCaveats) -> list[Finding]:
    """Caveats written out that (nearly) repeat a shared caveat: cite it, so it is updated once.
    A warning: a near copy may add a fact of its own, which only its author can judge."""
    uses = [
        CaveatUse(e.id, n, text)
        for e in entries
        for n, text in enumerate(e.caveats)
        if shared.id_of(text) is None
    ]
    return [
        Finding(
            "shared-caveat",
            use.entry_id,
            f"caveat {use.index + 1} nearly repeats shared caveat {ref!r} (knowledge/caveats.yaml); cite it as `- ref: {ref}`",
        )
        for use, ref in near_copies(uses, shared)
    ]


def bilingual(base: KnowledgeBase) -> list[Finding]:
    """Chinese text missing, out of step with the English, or stating other numbers."""
    return [
        Finding("untranslated" if p.message == NO_CHINESE else "chinese", p.entry_id, p.message)
        for p in check_all(list(base.entries), base.chinese, base.shared)
    ]


def _lenient_base(root: Path) -> KnowledgeBase | None:
    """Every entry file that is valid on its own (first of each id), for linting a folder the
    loader refuses; None when not one entry parses."""
    entries: list[Entry] = []
    paths: dict[str, Path] = {}
    shared, _ = load_shared_caveats(root)
    for path in sorted((root / ENTRIES_DIRNAME).glob("*/*.yaml")):
        try:
            entry, _ = parse_entry_text(read_entry_file(path), path, shared)
        except (OSError, UnicodeDecodeError):
            continue
        if entry is not None and entry.id not in paths:
            entries.append(entry)
            paths[entry.id] = path
    if not entries:
        return None
    synonyms, _ = load_synonyms(root / SYNONYMS_FILENAME)
    return KnowledgeBase(entries=entries, synonyms=synonyms, paths=paths, shared=shared)


def lint_folder(root: Path, today: dt.date | None = None) -> tuple[list[Finding], list[Problem]]:
    """Lint the knowledge folder at ``root``.

    Returns the findings, and the loader's problems other than broken related ids (those are
    findings). When the loader refuses the folder, the checks still run on every entry that is
    valid on its own, so a broken related id or a bad file does not hide a conflict elsewhere.
    """
    try:
        return lint(Matcher(load_knowledge_base(root)), today), []
    except KnowledgeError as exc:
        problems = exc.problems
    base = _lenient_base(root)
    if base is None:
        return [], problems
    findings = lint(Matcher(base), today)
    # The loader's wording for the same fact (tests keep the two in step).
    broken = {
        (str(base.paths[e.id]), f"related id {rel!r} does not exist")
        for e in base.entries
        for rel in e.related
        if rel not in base.by_id
    }
    return findings, [p for p in problems if (str(p.path), p.message) not in broken]
