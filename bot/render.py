"""Turn a match result into what people read: plain text for the terminal, a dict for JSON.

Telegram HTML rendering lives in bot/telegram_render.py; both show the same facts in the same
order: title, answer, caveats, status, sources, as-of date, a stale note when due.
"""

from __future__ import annotations

import datetime as dt
import textwrap

from knowledge.matcher import MatchResult, Outcome
from knowledge.model import Entry, Source, Status, Topic
from knowledge.scope import SmallTalk

STATUS_LABELS = {
    Status.OFFICIAL: "Official",
    Status.REPORTED: "Reported (not confirmed officially)",
    Status.UNCLEAR: "Unclear (sources conflict)",
    Status.PENDING: "Pending (not yet published by the authority)",
}
DECLINE_TEXT = (
    "I don't have a sourced answer to that. I cover China's K visa and the US H-1B; "
    "try rephrasing, or browse the topics."
)
CLARIFY_TEXT = "Did you mean one of these?"
DID_YOU_MEAN_TEXT = "Or did you mean:"
NOT_ADVICE = "Sourced information, not legal advice."
VISA_NAMES = {Topic.H1B: "H-1B", Topic.K_VISA: "K visa", Topic.COMPARE: "K visa / H-1B"}
COVERS = "I answer questions about China's K visa and the US H-1B (including the $100,000 payment), with sources."
SMALLTALK_TEXT = {
    SmallTalk.GREETING: f"Hello! {COVERS} Ask me anything about them, e.g. \"is the H-1B $100,000 fee annual?\"",
    SmallTalk.THANKS: "You're welcome! Ask again any time.",
    SmallTalk.IDENTITY: f"I'm visabot. {COVERS} I answer only from sourced entries, and say so when I don't know.",
}


def decline_text(result: MatchResult) -> str:
    """An honest decline: a question about our visas that we cannot answer is a gap we log for
    the maintainers; anything else is outside what the bot covers."""
    if result.asked_about is not None:
        return (
            f"I don't have a sourced answer to that {VISA_NAMES[result.asked_about]} question yet; "
            "it has been passed to the maintainers."
        )
    return DECLINE_TEXT


def source_date(source: Source) -> str:
    if source.date == "n.d.":
        return "n.d."
    text = source.date.isoformat()
    return f"c. {text}" if source.approximate else text


def stale_note(entry: Entry, today: dt.date | None = None) -> str | None:
    if entry.is_stale(today):
        return (
            f"Note: this entry was due for re-checking on {entry.review_due.isoformat()}; "
            "the facts may have changed."
        )
    return None


def lapse_note(entry: Entry, today: dt.date | None = None) -> str | None:
    """The line every reply opens with once a dated rule's end has passed."""
    if not entry.lapsed(today) or entry.in_force_until is None:
        return None
    end = entry.in_force_until
    return (
        f"⏳ This rule was set to end on {end.day} {end:%b %Y} unless extended; our sources do not "
        f"show what happened since — check {entry.in_force_check}"
    )


def _wrap(text: str, indent: str = "", width: int = 88) -> str:
    return textwrap.fill(
        text, width, initial_indent=indent, subsequent_indent=" " * len(indent),
        break_long_words=False, break_on_hyphens=False,  # URLs must stay whole to be clickable
    )


def entry_as_text(entry: Entry, today: dt.date | None = None) -> str:
    wrap = _wrap
    lapsed = lapse_note(entry, today)
    parts = ([wrap(lapsed), ""] if lapsed else []) + [entry.question, "", wrap(entry.answer)]
    if entry.caveats:
        parts += ["", "Caveats:"] + [wrap(c, "  - ") for c in entry.caveats]
    parts += ["", f"Status: {STATUS_LABELS[entry.shown_status(today)]}", f"As of {entry.as_of.isoformat()}", "Sources:"]
    parts += [
        wrap(f"{s.title} — {s.publisher}, {source_date(s)} [{s.tier.value}] {s.url}", "  - ")
        for s in entry.sources
    ]
    note = stale_note(entry, today)
    if note:
        parts += ["", wrap(note)]
    return "\n".join(parts)


def result_as_text(result: MatchResult, today: dt.date | None = None) -> str:
    """The terminal's reply. Offered entries are numbered, so typing the number picks one."""
    if result.outcome is Outcome.SMALLTALK and result.smalltalk is not None:
        return SMALLTALK_TEXT[result.smalltalk]
    if result.outcome is Outcome.ANSWER and result.entry is not None:
        parts = [entry_as_text(result.entry, today), *(entry_as_text(c.entry, today) for c in result.also)]
        text = ("\n\n" + "-" * 40 + "\n\n").join(parts)
        if result.alternatives:
            text += "\n\n" + _numbered(DID_YOU_MEAN_TEXT, result)
        return text
    if result.outcome is Outcome.CLARIFY:
        return _numbered(CLARIFY_TEXT, result)
    if result.alternatives:
        return _numbered(decline_text(result) + "\nClosest entries I have:", result)
    return decline_text(result)


def _numbered(heading: str, result: MatchResult) -> str:
    return "\n".join([heading] + [f"  {i}. {c.entry.question}" for i, c in enumerate(result.alternatives, 1)])


def source_as_dict(source: Source) -> dict[str, str]:
    return {
        "title": source.title,
        "url": source.url,
        "publisher": source.publisher,
        "date": source_date(source),
        "tier": source.tier.value,
    }


def _entry_as_dict(entry: Entry, today: dt.date | None = None) -> dict[str, object]:
    return {
        "id": entry.id,
        "question": entry.question,
        "answer": entry.answer,
        "caveats": list(entry.caveats),
        "sources": [source_as_dict(s) for s in entry.sources],
        "status": entry.shown_status(today).value,
        "as_of": entry.as_of.isoformat(),
        "in_force_until": _iso(entry.in_force_until),
        "lapse_note": lapse_note(entry, today),
    }


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def result_as_dict(result: MatchResult, today: dt.date | None = None) -> dict[str, object]:
    """The JSON reply; status is the one the user is shown (unclear once a dated rule lapsed)."""
    entry = result.entry
    return {
        "query": result.query,
        "outcome": result.outcome.value,
        "matched": result.matched,
        "id": entry.id if entry else None,
        "score": result.score,
        "question": entry.question if entry else None,
        "answer": entry.answer if entry else None,
        "caveats": list(entry.caveats) if entry else [],
        "sources": [source_as_dict(s) for s in entry.sources] if entry else [],
        "status": entry.shown_status(today).value if entry else None,
        "as_of": entry.as_of.isoformat() if entry else None,
        "in_force_until": _iso(entry.in_force_until) if entry else None,
        "lapse_note": lapse_note(entry, today) if entry else None,
        "alternatives": [
            {"id": c.entry.id, "question": c.entry.question, "score": c.score} for c in result.alternatives
        ],
        "also": [{**_entry_as_dict(c.entry, today), "score": c.score} for c in result.also],
        "smalltalk": result.smalltalk.value if result.smalltalk else None,
    }
