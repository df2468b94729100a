"""Turn a match result into what people read: plain text for the terminal, a dict for JSON.

Telegram HTML rendering lives in bot/replies/telegram_view.py; both show the same facts in the same
order: title, answer, caveats, status, sources, as-of date, a stale note when due.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Mapping

from bot.i18n import Lang, entry_text, shown_badge, t, visa_name
from knowledge.bilingual import ChineseText
from knowledge.matcher import MatchResult, Outcome
from knowledge.model import Entry, Source, Topic

Translations = Mapping[str, ChineseText] | None

DID_YOU_MEAN_TEXT = "Or did you mean:"
NOT_ADVICE = "Sourced information, not legal advice."
VISA_NAMES = {Topic.H1B: "H-1B", Topic.K_VISA: "K visa", Topic.COMPARE: "K visa / H-1B"}


def decline_text(result: MatchResult, lang: Lang = Lang.EN) -> str:
    """An honest decline: a question about our visas that we cannot answer is a gap we log for
    the maintainers; anything else is outside what the bot covers."""
    if result.asked_about is not None:
        visa = visa_name(VISA_NAMES[result.asked_about], lang)
        return t(decline_key(result), lang, visa=visa)
    return t(decline_key(result), lang)


def decline_key(result: MatchResult) -> str:
    """A decline that lists close entries is unsure, not empty-handed: the first of them is often
    right (below the answer threshold the model is unsure, not sure it is wrong), so it must not
    say there is no answer. Whether the question named one of our visas picks the wording: only
    then does the reply call it a gap passed to the maintainers."""
    if result.asked_about is None:
        return "decline_close" if result.alternatives else "decline"
    return "decline_unsure" if result.alternatives else "decline_known"


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


def lapse_note(entry: Entry, today: dt.date | None = None, lang: Lang = Lang.EN) -> str | None:
    """The line every reply opens with once a dated rule's end has passed."""
    if not entry.lapsed(today) or entry.in_force_until is None:
        return None
    return t("lapsed", lang, end=day_text(entry.in_force_until, lang), check=entry.in_force_check)


def day_text(day: dt.date, lang: Lang) -> str:
    """A date as each language writes it in a sentence: 21 Sep 2026, 2026年9月21日."""
    return f"{day.year}年{day.month}月{day.day}日" if lang.chinese else f"{day.day} {day:%b %Y}"


def _wrap(text: str, indent: str = "", width: int = 88) -> str:
    return textwrap.fill(
        text,
        width,
        initial_indent=indent,
        subsequent_indent=" " * len(indent),
        break_long_words=False,
        break_on_hyphens=False,  # URLs must stay whole to be clickable
    )


def entry_as_text(
    entry: Entry,
    all_caveats: bool = True,
    sources: bool = True,
    lang: Lang = Lang.EN,
    chinese: Translations = None,
    today: dt.date | None = None,
) -> str:
    """The entry as plain text; the terminal chat's first screen leaves out later caveats and sources."""
    wrap = _wrap
    shown = entry_text(entry, lang, chinese or {})
    status = f"{shown_badge(entry, today, shown.lang)} · {t('as_of', shown.lang, date=entry.as_of.isoformat())}"
    first_screen = not all_caveats and not sources
    summary = entry.summary if first_screen and not shown.lang.chinese else None  # as in Telegram
    parts = [shown.question, "", wrap(summary or shown.answer), "", status]
    if shown.fallback_note:
        parts[:0] = [shown.fallback_note, ""]
    lapsed = lapse_note(entry, today, shown.requested)
    if lapsed:
        parts[:0] = [wrap(lapsed), ""]
    caveats = shown.caveats if all_caveats else shown.caveats[:1]
    if caveats:
        parts += ["", t("caveats", shown.lang) + ":"] + [wrap(c, "  - ") for c in caveats]
    if sources:
        parts += ["", t("sources", shown.lang) + ":"] + [
            wrap(f"{s.title} — {s.publisher}, {source_date(s)} [{s.tier.value}] {s.url}", "  - ")
            for s in entry.sources
        ]
    note = stale_note(entry, today)
    if note:
        parts += ["", wrap(note)]
    more = [
        *(["`more` for the full answer"] if summary and len(caveats) == len(entry.caveats) else []),
        *(
            [
                f"`more` for {'the full answer and ' if summary else ''}{len(entry.caveats) - 1} more caveats"
            ]
            if len(caveats) < len(entry.caveats)
            else []
        ),
        *(["`sources` for the sources"] if not sources else []),
    ]
    if more:
        parts += ["", "(type " + ", ".join(more) + ")"]
    return "\n".join(parts)


def result_as_text(
    result: MatchResult,
    short: bool = False,
    lang: Lang = Lang.EN,
    chinese: Translations = None,
    today: dt.date | None = None,
) -> str:
    """The terminal's reply. Offered entries are numbered, so typing the number picks one.

    `short` gives the chat's first screen (as in Telegram); `visabot ask` prints everything."""
    if result.outcome is Outcome.SMALLTALK and result.smalltalk is not None:
        return t(f"smalltalk.{result.smalltalk.value}", lang)
    if result.outcome is Outcome.ANSWER and result.entry is not None:
        full = not short
        parts = [
            entry_as_text(e, full, full, lang, chinese, today)
            for e in (result.entry, *(c.entry for c in result.also))
        ]
        text = ("\n\n" + "-" * 40 + "\n\n").join(parts)
        if result.alternatives:
            text += "\n\n" + _numbered(DID_YOU_MEAN_TEXT, result)
        return text
    if result.outcome is Outcome.CLARIFY:
        return _numbered(t("clarify", lang), result)
    if result.alternatives:
        return _numbered(decline_text(result, lang) + "\n" + t("closest", lang), result)
    return decline_text(result, lang)


def _numbered(heading: str, result: MatchResult) -> str:
    return "\n".join(
        [heading] + [f"  {i}. {c.entry.question}" for i, c in enumerate(result.alternatives, 1)]
    )


def source_as_dict(source: Source) -> dict[str, str]:
    return {
        "title": source.title,
        "url": source.url,
        "publisher": source.publisher,
        "date": source_date(source),
        "tier": source.tier.value,
    }


def _entry_as_dict(
    entry: Entry, lang: Lang = Lang.EN, chinese: Translations = None, today: dt.date | None = None
) -> dict[str, object]:
    shown = entry_text(entry, lang, chinese or {})
    return {
        "id": entry.id,
        "question": shown.question,
        "answer": shown.answer,
        "caveats": list(shown.caveats),
        "lang": shown.lang.value,
        "sources": [source_as_dict(s) for s in entry.sources],
        "status": entry.shown_status(today).value,
        "as_of": entry.as_of.isoformat(),
        "in_force_until": _iso(entry.in_force_until),
        "lapse_note": lapse_note(entry, today, lang),
    }


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def result_as_dict(
    result: MatchResult,
    lang: Lang = Lang.EN,
    chinese: Translations = None,
    today: dt.date | None = None,
) -> dict[str, object]:
    """`lang` is the reply language asked for; the dict's "lang" is the one the entry was shown in
    (English when the entry has no Chinese text in step)."""
    entry = result.entry
    shown = entry_text(entry, lang, chinese or {}) if entry else None
    return {
        "query": result.query,
        "outcome": result.outcome.value,
        "matched": result.matched,
        "id": entry.id if entry else None,
        "score": result.score,
        "question": shown.question if shown else None,
        "answer": shown.answer if shown else None,
        "summary": entry.summary
        if entry and shown and not shown.lang.chinese
        else None,  # the first screen's short form
        "caveats": list(shown.caveats) if shown else [],
        "lang": shown.lang.value if shown else lang.value,
        "sources": [source_as_dict(s) for s in entry.sources] if entry else [],
        "status": entry.shown_status(today).value if entry else None,
        "as_of": entry.as_of.isoformat() if entry else None,
        "in_force_until": _iso(entry.in_force_until) if entry else None,
        "lapse_note": lapse_note(entry, today, lang) if entry else None,
        "alternatives": [
            {"id": c.entry.id, "question": c.entry.question, "score": c.score}
            for c in result.alternatives
        ],
        "also": [
            {**_entry_as_dict(c.entry, lang, chinese, today), "score": c.score} for c in result.also
        ],
        "smalltalk": result.smalltalk.value if result.smalltalk else None,
    }
