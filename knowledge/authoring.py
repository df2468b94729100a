"""Authoring an entry, for both wizards: Telegram's /add and /edit, and `visabot kb add`.

One pure module decides what each answer becomes and what the defaults are, so the two wizards
cannot drift apart: `clean_question`, `clean_alternate`, `clean_answer` (paragraphs kept,
separated by a blank line; the lines of one paragraph joined with spaces, as the shipped files'
folded answers are), `clean_caveat`, `parse_source` / `url_problem`, `review_days` (how soon an
entry is due for re-checking, by its status), `slug_for` (an id from the question) and
`build_entry`. Each check raises ValueError with the reason; the wizards only word it.

`review_entry`: the checks a new or edited entry must pass before it is written.
The same findings as `visabot kb lint` (knowledge/lint.py), computed for the knowledge base with
the entry included, but only where the entry can change the result: linting the whole base takes
seconds per phrasing set, so a Save checks the entry's own phrasings, the phrasings of the entries
it competes with (a new entry can take over another's alternates: the issue-11 "$100,000 fee every
year" entry did), near-duplicate questions and the entry's sourcing. Errors block the save;
warnings need a second confirmation.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from pydantic import ValidationError

from knowledge.bilingual import ChineseParts
from knowledge.lint import WARNING_KINDS, Finding, conflicts_of, duplicates, sourcing
from knowledge.loader import KnowledgeBase
from knowledge.matcher import Matcher
from knowledge.model import MAX_ANSWER_CHARS, Entry, Source, Status, Tier, Topic
from knowledge.normalize import fold

MAX_QUESTION_CHARS = 300
MAX_ALTERNATE_CHARS = (
    500  # bot.storage.MAX_LOGGED_QUESTION_CHARS: an unanswered question always fits
)
MAX_CAVEAT_CHARS = 800
# How soon an entry is due for re-checking, by how firmly it is established.
REVIEW_DAYS = {Status.OFFICIAL: 90, Status.REPORTED: 30, Status.UNCLEAR: 30, Status.PENDING: 14}
TIERS = {t.value: t for t in Tier} | {
    "law firm": Tier.LAW_FIRM,
    "copy of official": Tier.COPY_OF_OFFICIAL,
}
# Words left out of ids made from a question ("What is the H-1B master's cap?" → h1b-masters-cap).
ID_STOPWORDS = frozenset(
    (
        "a",
        "an",
        "the",
        "is",
        "are",
        "was",
        "were",
        "be",
        "do",
        "does",
        "did",
        "can",
        "could",
        "will",
        "would",
        "should",
        "i",
        "my",
        "me",
        "we",
        "our",
        "you",
        "your",
        "to",
        "of",
        "for",
        "in",
        "on",
        "at",
        "by",
        "with",
        "and",
        "or",
        "what",
        "how",
        "when",
        "who",
        "which",
        "why",
        "there",
        "it",
        "its",
        "any",
    )
)

# Not (yet) lint rules for the whole shipped base, but a maintainer saving an entry must confirm
# them. Warnings, not errors: several shipped official entries rest on law firms because the
# official pages could not be retrieved, and editing them must stay possible. An entry due for
# re-checking (stale) can be edited without re-checking it (a typo fix): saving it says so, and
# stays possible; re-checking every source is what moves verified_on and clears it.
AUTHORING_WARNINGS = WARNING_KINDS | {"no-caveats", "official-unsourced", "stale"}


@dataclass(frozen=True)
class Review:
    errors: list[Finding]
    warnings: list[Finding]


def with_entry(base: KnowledgeBase, entry: Entry, replaces: str | None = None) -> KnowledgeBase:
    """`base` with `entry` added (or replacing the entry `replaces`), in memory only."""
    kept = [e for e in base.entries if e.id not in {entry.id, replaces}]
    return KnowledgeBase([*kept, entry], synonyms=base.synonyms, paths=dict(base.paths))


def review_entry(
    base: KnowledgeBase, entry: Entry, today: dt.date | None = None, replaces: str | None = None
) -> Review:
    """What `kb lint` would say about `entry` once in `base` (the base it would join)."""
    matcher = Matcher(with_entry(base, entry, replaces))
    findings = conflicts_of(matcher, entry)
    rivals: list[str] = []
    for text in (entry.question, *entry.alternates):
        result = matcher.match(text)
        ids = [c.entry.id for c in result.alternatives] + (
            [result.entry.id] if result.entry else []
        )
        rivals.extend(i for i in ids if i != entry.id and i not in rivals)
    for rival in rivals:  # their phrasings that the new entry now takes or contests
        other = matcher.base.get(rival)
        if other is not None:
            findings += [f for f in conflicts_of(matcher, other) if entry.id in f.detail]
    findings += [
        f
        for f in duplicates(matcher)
        if entry.id == f.entry_id or f.detail.endswith(f" {entry.id}'s")
    ]
    findings += [f for f in sourcing(matcher, today) if f.entry_id == entry.id]
    if entry.status is Status.OFFICIAL and not entry.has_official_source:
        findings = [f for f in findings if f.kind != "no-official-source"]  # said more precisely:
        findings.append(
            Finding(
                "official-unsourced",
                entry.id,
                "status official, but no source of tier official or copy-of-official",
            )
        )
    if not entry.caveats:
        findings.append(
            Finding(
                "no-caveats",
                entry.id,
                "no caveats: say what could change the answer, or confirm none",
            )
        )
    unique = list(dict.fromkeys(findings))
    return Review(
        errors=[f for f in unique if f.kind not in AUTHORING_WARNINGS],
        warnings=[f for f in unique if f.kind in AUTHORING_WARNINGS],
    )


# ---------------------------------------------------------------- the wizards' answers


@dataclass
class EntryFields:
    """What a maintainer types or picks for an entry; `build_entry` adds ids and dates."""

    question: str = ""
    alternates: list[str] = field(default_factory=list)
    answer: str = ""
    caveats: list[str] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    topic: Topic | None = None
    status: Status | None = None
    reverified: bool = False  # an edit: the maintainer re-checked every source today
    # The Chinese (knowledge/zh/<id>.yaml); its parts not given are missing, or kept by an edit.
    zh: ChineseParts = field(default_factory=ChineseParts)

    @classmethod
    def of(cls, entry: Entry) -> EntryFields:
        return cls(
            question=entry.question,
            alternates=list(entry.alternates),
            answer=entry.answer,
            caveats=list(entry.caveats),
            sources=list(entry.sources),
            topic=entry.topic,
            status=entry.status,
        )


def _one_line(text: str, what: str, limit: int) -> str:
    """`text` on one line (runs of white space as one space), not empty, at most `limit` long."""
    line = " ".join(text.split())
    if not line:
        raise ValueError(f"empty: type {what}")
    if len(line) > limit:
        raise ValueError(f"{len(line)} characters; {what} has at most {limit}: {line[:40]}…")
    return line


def clean_question(text: str) -> str:
    return _one_line(text, "a question", MAX_QUESTION_CHARS)


class Repeated(ValueError):
    """The phrasing is already there (the question or another alternate, in any case)."""


def clean_alternate(text: str, taken: list[str]) -> str:
    """One alternate phrasing, not a repeat (any case) of `taken` (the question and the others)."""
    alternate = _one_line(text, "an alternate", MAX_ALTERNATE_CHARS)
    if alternate.casefold() in {t.casefold() for t in taken}:
        raise Repeated(f"already there: {alternate[:40]}")
    return alternate


def clean_answer(lines: list[str]) -> str:
    """The answer from the lines typed: a blank line separates paragraphs (kept); the lines of one
    paragraph are joined with spaces, as a folded answer in the shipped files reads."""
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            paragraphs[-1].append(line.strip())
        elif paragraphs[-1]:
            paragraphs.append([])
    answer = "\n\n".join(" ".join(p) for p in paragraphs if p)
    if not answer:
        raise ValueError("the answer is empty")
    if len(answer) > MAX_ANSWER_CHARS:
        raise ValueError(f"{len(answer)} characters; an answer has at most {MAX_ANSWER_CHARS}")
    return answer


def clean_caveat(text: str) -> str:
    return _one_line(text, "a caveat", MAX_CAVEAT_CHARS)


def review_days(status: Status) -> int:
    """Days until an entry of this status is due for re-checking: the less firm, the sooner."""
    return REVIEW_DAYS[status]


def slug_for(question: str, topic: Topic) -> str:
    """An id from the question: ASCII words without filler, prefixed by the topic, ≤ 48 chars."""
    text = unicodedata.normalize("NFKD", question).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"\bh-1b\b", "h1b", text.replace("'", "").replace("’", ""))
    words = re.findall(r"[a-z0-9]+", text)
    words = [w for w in words if w not in ID_STOPWORDS] or words
    prefix = topic.value.split("-")
    if words[: len(prefix)] != prefix:
        words = [*prefix, *words]
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > 40:  # room for a -2… suffix within the 48-character limit
            break
        slug = candidate
    return slug or topic.value


def unique_id(base: str, taken: set[str]) -> str:
    """`base`, or `base-2`, `base-3`… whichever is not taken."""
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def url_problem(url: str) -> str | None:
    """Why `url` is not a well-formed http(s) URL, or None."""
    if not url or any(c.isspace() for c in url):
        return "the URL is empty or contains spaces"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "the URL is not well-formed"
    if parts.scheme not in ("http", "https"):
        return "the URL must start with http:// or https://"
    host = parts.hostname or ""
    if "." not in host or not re.fullmatch(r"(?:[^\W_]([\w-]*[^\W_])?\.)+[^\W\d_]{2,}", host):
        return f"the URL has no valid host name ({host or 'none'})"
    return None


def error_text(error: object) -> str:
    """One pydantic error as a maintainer reads it: `field: reason`."""
    err = error if isinstance(error, dict) else {}
    loc = ".".join(str(p) for p in err.get("loc", ())) or "entry"
    return f"{loc}: {str(err.get('msg', '')).removeprefix('Value error, ')}"


def parse_source(line: str) -> Source:
    """`title | publisher | url | date | tier` → Source; ValueError says what is wrong."""
    parts = [p.strip() for p in line.split("|")]
    if len(parts) != 5:
        raise ValueError(f"expected 5 parts separated by |, found {len(parts)}")
    title, publisher, url, date, tier = parts
    problem = url_problem(url)
    if problem:
        raise ValueError(problem)
    approximate = False
    circa = re.fullmatch(r"(?:c\.?|~|circa)\s*(\S+)", date, flags=re.IGNORECASE)
    if circa:
        approximate, date = True, circa.group(1)
    elif date.lower() in ("n.d.", "n.d", "nd"):
        date = "n.d."
    elif not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        raise ValueError(f"date {date!r}: use YYYY-MM-DD, c. YYYY-MM-DD or n.d.")
    if tier.lower() not in TIERS:
        raise ValueError(f"tier {tier!r}: use official, copy-of-official, law-firm or news")
    try:
        return Source(
            title=title,
            publisher=publisher,
            url=url,
            date=date,  # type: ignore[arg-type]  # the model parses the text
            approximate=approximate,
            tier=TIERS[tier.lower()],
        )
    except ValidationError as exc:
        raise ValueError("; ".join(error_text(e) for e in exc.errors())) from None


def newest_source_date(sources: Sequence[Source]) -> dt.date | None:
    """The date of the newest dated source (undated ones, "n.d.", say nothing)."""
    dates = [s.date for s in sources if isinstance(s.date, dt.date)]
    return max(dates) if dates else None


def build_entry(
    fields: EntryFields, entry_id: str, today: dt.date, original: Entry | None = None
) -> Entry:
    """The Entry the fields describe, validated by the model (raises ValidationError).

    Dates are promises, so they move only for a reason. `as_of` is the newest source's date: a new
    entry takes it, an edit takes it only when its sources changed (a reworded answer is not a
    newer fact). `verified_on` is the day someone re-checked the sources: a new entry's author
    just did; an edit moves it to today only when the maintainer says every source was re-checked
    (`fields.reverified`), else it stays (raised to `as_of` at least, as a newly cited source
    was read). An edit keeps keywords, related ids and history, the summary while the answer
    stands, and the review interval unless the status changed."""
    assert fields.topic is not None and fields.status is not None
    newest = newest_source_date(fields.sources)
    if original is None:
        as_of = newest or today
        verified_on, review, kept = max(today, as_of), review_days(fields.status), {}
    else:
        as_of = (
            (newest or original.as_of)
            if list(fields.sources) != list(original.sources)
            else original.as_of
        )
        verified_on = max(today if fields.reverified else original.verified_on, as_of)
        review = (
            original.review_after_days
            if fields.status is original.status
            else review_days(fields.status)
        )
        kept = {
            "keywords": original.keywords,
            "related": original.related,
            "history": original.history,
        }
        if fields.answer == original.answer:  # a new answer needs its own summary (or none)
            kept["summary"] = original.summary
    return Entry(
        id=entry_id,
        topic=fields.topic,
        question=fields.question,
        alternates=fields.alternates,
        answer=fields.answer,
        caveats=fields.caveats,
        status=fields.status,
        sources=fields.sources,
        as_of=as_of,
        verified_on=verified_on,
        review_after_days=review,
        **kept,  # type: ignore[arg-type]
    )


def find_entries(matcher: Matcher, words: str, limit: int = 8) -> list[Entry]:
    """The entries a maintainer looks for with `words` (to edit one, or attach a question to it):
    those whose id, question or alternates hold every word, by id; else the matcher's best."""
    wanted = fold(words).split()
    if not wanted:
        return []
    hits = [
        e
        for e in matcher.base.entries
        if all(
            w in fold(" ".join((e.id.replace("-", " "), e.question, *e.alternates))) for w in wanted
        )
    ]
    if hits:
        return sorted(hits, key=lambda e: e.id)[:limit]
    return [c.entry for c in matcher.ranked(words, limit=limit)]


def changed_fields(original: Entry, entry: Entry) -> list[str]:
    """The names of the fields an edit changed, in the wizard's order."""
    names = ("question", "alternates", "answer", "caveats", "sources", "topic", "status")
    return [n for n in names if getattr(entry, n) != getattr(original, n)]
