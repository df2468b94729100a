"""The checks a new or edited entry must pass before it is written, shared by Telegram's /add
Save and (later) `visabot kb add`.

The same findings as `visabot kb lint` (knowledge/lint.py), computed for the knowledge base with
the entry included, but only where the entry can change the result: linting the whole base takes
seconds per phrasing set, so a Save checks the entry's own phrasings, the phrasings of the entries
it competes with (a new entry can take over another's alternates: the issue-11 "$100,000 fee every
year" entry did), near-duplicate questions and the entry's sourcing. Errors block the save;
warnings need a second confirmation.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from knowledge.lint import WARNING_KINDS, Finding, conflicts_of, duplicates, sourcing
from knowledge.loader import KnowledgeBase
from knowledge.matcher import Matcher
from knowledge.model import Entry, Status

# Not (yet) lint rules for the whole shipped base, but a maintainer saving an entry must confirm
# them. Warnings, not errors: several shipped official entries rest on law firms because the
# official pages could not be retrieved, and editing them must stay possible.
AUTHORING_WARNINGS = WARNING_KINDS | {"no-caveats", "official-unsourced"}


@dataclass(frozen=True)
class Review:
    errors: list[Finding]
    warnings: list[Finding]


def with_entry(base: KnowledgeBase, entry: Entry, replaces: str | None = None) -> KnowledgeBase:
    """`base` with `entry` added (or replacing the entry `replaces`), in memory only."""
    kept = [e for e in base.entries if e.id not in {entry.id, replaces}]
    return KnowledgeBase([*kept, entry], synonyms=base.synonyms, paths=dict(base.paths))


def review_entry(base: KnowledgeBase, entry: Entry, today: dt.date | None = None, replaces: str | None = None) -> Review:
    """What `kb lint` would say about `entry` once in `base` (the base it would join)."""
    matcher = Matcher(with_entry(base, entry, replaces))
    findings = conflicts_of(matcher, entry)
    rivals: list[str] = []
    for text in (entry.question, *entry.alternates):
        result = matcher.match(text)
        ids = [c.entry.id for c in result.alternatives] + ([result.entry.id] if result.entry else [])
        rivals.extend(i for i in ids if i != entry.id and i not in rivals)
    for rival in rivals:  # their phrasings that the new entry now takes or contests
        other = matcher.base.get(rival)
        if other is not None:
            findings += [f for f in conflicts_of(matcher, other) if entry.id in f.detail]
    findings += [f for f in duplicates(matcher) if entry.id == f.entry_id or f.detail.endswith(f" {entry.id}'s")]
    findings += [f for f in sourcing(matcher, today) if f.entry_id == entry.id]
    if entry.status is Status.OFFICIAL and not entry.has_official_source:
        findings = [f for f in findings if f.kind != "no-official-source"]  # said more precisely:
        findings.append(Finding("official-unsourced", entry.id, "status official, but no source of tier official or copy-of-official"))
    if not entry.caveats:
        findings.append(Finding("no-caveats", entry.id, "no caveats: say what could change the answer, or confirm none"))
    unique = list(dict.fromkeys(findings))
    return Review(
        errors=[f for f in unique if f.kind not in AUTHORING_WARNINGS],
        warnings=[f for f in unique if f.kind in AUTHORING_WARNINGS],
    )
