"""Turn a match result into what people read: plain text for the terminal, a dict for JSON.

Telegram HTML rendering lives in bot/telegram_render.py; both show the same facts in the same
order: title, answer, caveats, status, sources, as-of date, a stale note when due.
"""

from __future__ import annotations

import datetime as dt
import textwrap

from knowledge.matcher import MatchResult, Outcome
from knowledge.model import Entry, Source, Status

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
NOT_ADVICE = "Sourced information, not legal advice."


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


def _wrap(text: str, indent: str = "", width: int = 88) -> str:
    return textwrap.fill(
        text, width, initial_indent=indent, subsequent_indent=" " * len(indent),
        break_long_words=False, break_on_hyphens=False,  # URLs must stay whole to be clickable
    )


def entry_as_text(entry: Entry) -> str:
    wrap = _wrap
    parts = [entry.question, "", wrap(entry.answer)]
    if entry.caveats:
        parts += ["", "Caveats:"] + [wrap(c, "  - ") for c in entry.caveats]
    parts += ["", f"Status: {STATUS_LABELS[entry.status]}", f"As of {entry.as_of.isoformat()}", "Sources:"]
    parts += [
        wrap(f"{s.title} — {s.publisher}, {source_date(s)} [{s.tier.value}] {s.url}", "  - ")
        for s in entry.sources
    ]
    note = stale_note(entry)
    if note:
        parts += ["", wrap(note)]
    return "\n".join(parts)


def result_as_text(result: MatchResult) -> str:
    if result.outcome is Outcome.ANSWER and result.entry is not None:
        return entry_as_text(result.entry)
    if result.outcome is Outcome.CLARIFY:
        lines = [CLARIFY_TEXT] + [f"  {i}. {c.entry.question}" for i, c in enumerate(result.alternatives, 1)]
        return "\n".join(lines)
    lines = [DECLINE_TEXT]
    if result.alternatives:
        lines += ["Closest entries I have:"] + [f"  - {c.entry.question}" for c in result.alternatives]
    return "\n".join(lines)


def source_as_dict(source: Source) -> dict[str, str]:
    return {
        "title": source.title,
        "url": source.url,
        "publisher": source.publisher,
        "date": source_date(source),
        "tier": source.tier.value,
    }


def result_as_dict(result: MatchResult) -> dict[str, object]:
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
        "status": entry.status.value if entry else None,
        "as_of": entry.as_of.isoformat() if entry else None,
        "alternatives": [
            {"id": c.entry.id, "question": c.entry.question, "score": c.score} for c in result.alternatives
        ],
    }
