"""Telegram HTML for answers, clarifications and declines, plus their inline keyboards.

Every user- or entry-derived string goes through `esc` — entries are curated, but maintainers
write them in Telegram too, and a stray "<" must never break a reply. Messages are measured as
Telegram does (visible text after entity parsing, in UTF-16 code units) and split at paragraph
boundaries so the caveat block always travels whole.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import (
    EntryText,
    Lang,
    entry_text,
    shown_badge,
    status_badge,
    t,
    topic_label,
    topic_name,
    visa_name,
)
from bot.replies.html_check import visible_length
from bot.replies.plain import (
    NOT_ADVICE,
    VISA_NAMES,
    day_text,
    decline_key,
    lapse_note,
    source_date,
    stale_note,
)
from knowledge.bilingual import ChineseText
from knowledge.matcher import Candidate, MatchResult
from knowledge.model import Entry, Status, Topic

MAX_MESSAGE_UNITS = 4096
BUTTON_LABEL_CHARS = 60
STATUS_BADGES = {status: status_badge(status, Lang.EN) for status in Status}
TOPIC_LABELS = {topic: topic_label(topic, Lang.EN) for topic in Topic}


def esc(text: str) -> str:
    return html.escape(text, quote=True)


def _plain_html(text: str) -> str:
    """Our own message text: only <, > and & need escaping outside attributes."""
    return html.escape(text, quote=False)


def shorten(text: str, limit: int = BUTTON_LABEL_CHARS) -> str:
    """Cut at the last whole word that fits, with "…"; a single over-long word is cut mid-word."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    at_space = head.rfind(" ")
    if not text[limit - 1].isspace() and at_space > limit // 2:
        head = head[:at_space]
    return head.rstrip(" ,;:-–—") + "…"


@dataclass(frozen=True)
class Block:
    html: str
    keep_whole: bool = False


def entry_blocks(entry: Entry, today: dt.date | None = None) -> list[Block]:
    lapsed = lapse_note(entry, today)
    blocks = [Block(f"<b>{esc(lapsed)}</b>")] if lapsed else []
    blocks += [
        Block(f"<b>{esc(entry.question)}</b>"),
        *(Block(esc(p)) for p in entry.answer.split("\n\n")),
    ]
    if entry.caveats:
        caveats = "\n".join(f"• {esc(c)}" for c in entry.caveats)
        blocks.append(Block(f"⚠️ <b>Caveats</b>\n{caveats}", keep_whole=True))
    sources = "\n".join(
        f'{n}. <a href="{esc(s.url)}">{esc(s.title)}</a> — {esc(s.publisher)}, {esc(source_date(s))}'
        for n, s in enumerate(entry.sources, 1)
    )
    blocks.append(Block(f"{shown_badge(entry, today, Lang.EN)} · As of {entry.as_of.isoformat()}"))
    blocks.append(Block(f"📚 <b>Sources</b>\n{sources}"))
    note = stale_note(entry, today)
    if note:
        blocks.append(Block(f"⏰ <i>{esc(note)}</i>"))
    blocks.append(Block(f"<i>{esc(NOT_ADVICE)}</i>"))
    return blocks


class View(StrEnum):
    """How much of an entry one message shows; the expand buttons switch between them in place."""

    SHORT = "s"  # question, answer, status and date, the first caveat
    CAVEATS = "c"  # … with every caveat
    SOURCES = "r"  # … with the sources
    FULL = "f"  # everything
    HISTORY = "h"  # … with the dated changes of the official position


FIRST_SCREEN_CAVEATS = 1  # entries list first the caveat that most changes what the user should do


def entry_view_messages(
    entry: Entry,
    view: View = View.SHORT,
    today: dt.date | None = None,
    text: EntryText | None = None,
) -> list[str]:
    """An entry for a phone: the answer first, the status and date beside it, the rest on demand.

    Full replies ran 1,700–2,900 characters with the status mid-message. The first screen (SHORT)
    is the question, the answer (its `summary` where the full answer is very long), one line with
    the status, date and disclaimer, and the caveat that matters most: 885 visible characters at
    the median (tests/test_first_screen.py). The buttons expand it to the full answer, every
    caveat, the sources. One message, unless an expanded view outgrows Telegram's limit (then
    split at paragraphs). `text` is the entry in the reply's language (bot/i18n.py); English
    when not given.
    """
    text = text or EntryText(entry.question, entry.answer, tuple(entry.caveats), Lang.EN)
    lang = text.lang
    short = view is View.SHORT
    answer = (
        entry.summary if short and entry.summary and shows_summary(entry, lang) else text.answer
    )
    blocks = [Block(f"<b>{esc(text.question)}</b>"), *(Block(esc(p)) for p in answer.split("\n\n"))]
    if text.fallback_note:
        blocks.insert(0, Block(f"<i>{esc(text.fallback_note)}</i>"))
    lapsed = _lapse_html(entry, today, text.requested, short)
    if lapsed:  # a dated rule past its end: said first, before anything that reads as current
        blocks.insert(0, Block(lapsed))
    blocks.append(Block(_status_html(entry, today, lang, short)))
    if view in (View.CAVEATS, View.FULL) and text.caveats:
        caveats = "\n".join(f"• {esc(c)}" for c in text.caveats)
        blocks.append(Block(f"⚠️ <b>{t('caveats', lang)}</b>\n{caveats}", keep_whole=True))
    else:
        blocks += [Block(f"⚠️ {esc(c)}") for c in text.caveats[:FIRST_SCREEN_CAVEATS]]
    if view in (View.SOURCES, View.FULL):
        blocks.append(Block(f"📚 <b>{t('sources', lang)}</b>\n{_sources_html(entry)}"))
    if view is View.HISTORY and entry.history:
        changes = "\n".join(
            f'• {h.date.isoformat()}: {esc(h.change)} (<a href="{esc(h.source.url)}">{esc(h.source.publisher)}</a>)'
            for h in sorted(entry.history, key=lambda h: h.date)
        )
        blocks.append(Block(f"🕓 <b>{t('history', lang)}</b>\n{changes}", keep_whole=True))
    if not short:  # the first screen says it in its status line
        blocks.append(Block(f"<i>{esc(t('not_advice', lang))}</i>"))
    return pack(blocks)


def shows_summary(entry: Entry, lang: Lang) -> bool:
    """The first screen gives the answer's short form: English only, the Chinese answers being
    half the length (the translations are of the full answer)."""
    return entry.summary is not None and not lang.chinese


def _lapse_html(entry: Entry, today: dt.date | None, lang: Lang, short: bool) -> str | None:
    """The lapse line; on the first screen the page to check is a link, not a 90-character URL."""
    if (
        not short
        or not entry.lapsed(today)
        or entry.in_force_until is None
        or entry.in_force_check is None
    ):
        note = lapse_note(entry, today, lang)
        return f"<b>{esc(note)}</b>" if note else None
    link = f'<a href="{esc(entry.in_force_check)}">{esc(t("lapsed_check", lang))}</a>'
    return f"<b>{esc(t('lapsed_short', lang, end=day_text(entry.in_force_until, lang)))}</b> {link}"


def _status_html(entry: Entry, today: dt.date | None, lang: Lang, short: bool) -> str:
    """Status badge and as-of date; on the first screen also the review note and the disclaimer,
    all on one line, so the answer is not pushed below the fold by boilerplate."""
    shown = entry.shown_status(today)
    badge = t(f"status_short.{shown.value}", lang) if short else shown_badge(entry, today, lang)
    status = f"{badge} · {t('as_of', lang, date=entry.as_of.isoformat())}"
    if short:
        if entry.is_stale(today):
            status += f" · ⏰ {esc(t('stale_short', lang, date=entry.review_due.isoformat()))}"
        return f"{status} · <i>{esc(t('not_advice_short', lang))}</i>"
    if entry.is_stale(today):
        status += f"\n⏰ <i>{esc(t('stale', lang, date=entry.review_due.isoformat()))}</i>"
    return status


def _sources_html(entry: Entry) -> str:
    return "\n".join(
        f'{n}. <a href="{esc(s.url)}">{esc(s.title)}</a> — {esc(s.publisher)}, {esc(source_date(s))}'
        for n, s in enumerate(entry.sources, 1)
    )


def _safe_cut(line: str, limit: int) -> int:
    """An index to cut `line` so the head fits `limit` and no entity (&amp;) is torn apart."""
    cut = len(line)
    while (over := visible_length(line[:cut]) - limit) > 0:
        cut -= over
    amp = line.rfind("&", 0, cut)
    if amp != -1 and line.find(";", amp, cut) == -1:
        cut = amp
    return max(cut, 1)


def _split_long_block(block: Block, limit: int) -> list[str]:
    """A single block over the limit (only hostile data gets here): split it at line ends."""
    pieces: list[str] = []
    current = ""
    for line in block.html.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if visible_length(candidate) <= limit:
            current = candidate
            continue
        if current:
            pieces.append(current)
        while visible_length(line) > limit:
            cut = _safe_cut(line, limit)
            pieces.append(line[:cut])
            line = line[cut:]
        current = line
    if current:
        pieces.append(current)
    return pieces


def pack(blocks: list[Block], limit: int = MAX_MESSAGE_UNITS) -> list[str]:
    """Join blocks with blank lines into as few messages as fit the limit."""
    messages: list[str] = []
    current = ""
    for block in blocks:
        candidate = f"{current}\n\n{block.html}" if current else block.html
        if visible_length(candidate) <= limit:
            current = candidate
            continue
        if current:
            messages.append(current)
            current = ""
        if visible_length(block.html) <= limit:
            current = block.html
        else:
            *full, current = _split_long_block(block, limit)
            messages.extend(full)
    if current:
        messages.append(current)
    return messages


# Rendering and measuring an answer costs more than matching it (bench/RESULTS-telegram.md), and the
# same few entries are asked all day: keep each entry's messages for the day they were made on.
_RENDER_CACHE_LIMIT = 4096
_rendered: dict[tuple[str, dt.date], tuple[Entry, tuple[str, ...]]] = {}


def entry_messages(entry: Entry, today: dt.date | None = None) -> list[str]:
    """The answer's HTML messages; cached per entry object and day (entries are immutable).

    The cache holds the entry object itself and compares identity, so an edited or reloaded
    entry with the same id is rendered afresh; the day is in the key for the stale-entry note.
    """
    day = today or dt.date.today()
    key = (entry.id, day)
    hit = _rendered.get(key)
    if hit is not None and hit[0] is entry:
        return list(hit[1])
    messages = pack(entry_blocks(entry, day))
    if len(_rendered) >= _RENDER_CACHE_LIMIT:
        _rendered.clear()  # crude but bounded; a day's working set is far smaller
    _rendered[key] = (entry, tuple(messages))
    return messages


# ---- keyboards: callback_data carries ids only (≤ 64 bytes) ----


def show_data(entry_id: str) -> str:
    return f"a:{entry_id}"


def vote_data(entry_id: str, up: bool) -> str:
    return f"v:{entry_id}:{1 if up else 0}"


def vote_row(
    entry_id: str, lang: Lang = Lang.EN, voted: bool | None = None
) -> list[InlineKeyboardButton]:
    """👍 and 👎, the user's vote ticked once cast ("👍 Helpful ✓"): the keyboard shows the vote,
    and a tap on the other one changes it."""
    return [
        InlineKeyboardButton(
            t(key, lang) + (" ✓" if voted is up else ""), callback_data=vote_data(entry_id, up)
        )
        for key, up in (("helpful", True), ("not_helpful", False))
    ]


def with_vote_row(
    markup: InlineKeyboardMarkup, entry_id: str, lang: Lang, voted: bool
) -> InlineKeyboardMarkup:
    """The message's keyboard with its vote row showing `voted`."""
    return InlineKeyboardMarkup(
        [
            vote_row(entry_id, lang, voted)
            if any(str(b.callback_data or "").startswith("v:") for b in row)
            else list(row)
            for row in markup.inline_keyboard
        ]
    )


def topics_data(topic: str | None = None, page: int = 0) -> str:
    return "t" if topic is None else f"t:{topic}:{page}"


def _entry_button(
    entry: Entry, lang: Lang = Lang.EN, chinese: Mapping[str, ChineseText] | None = None
) -> list[InlineKeyboardButton]:
    """A button showing `entry`, labelled with its question in `lang` where it has one."""
    return [
        InlineKeyboardButton(
            shorten(entry_text(entry, lang, chinese or {}).question),
            callback_data=show_data(entry.id),
        )
    ]


def view_data(entry_id: str, view: View) -> str:
    return f"x:{entry_id}:{view.value}"


def expand_row(entry: Entry, view: View, lang: Lang = Lang.EN) -> list[InlineKeyboardButton]:
    """ "⚠️ N more caveats", "📚 Sources" and "Show less", as fit the view shown."""
    more = len(entry.caveats) - FIRST_SCREEN_CAVEATS
    row = []
    if view is View.SHORT and shows_summary(entry, lang):
        row.append(
            InlineKeyboardButton(
                t("full_answer", lang), callback_data=view_data(entry.id, View.FULL)
            )
        )
    if more > 0 and view in (View.SHORT, View.SOURCES):
        label = t("more_caveats", lang, n=more) if more > 1 else t("more_caveat", lang)
        row.append(
            InlineKeyboardButton(
                label,
                callback_data=view_data(
                    entry.id, View.FULL if view is View.SOURCES else View.CAVEATS
                ),
            )
        )
    if view in (View.SHORT, View.CAVEATS):
        target = View.FULL if view is View.CAVEATS else View.SOURCES
        row.append(
            InlineKeyboardButton(
                t("sources_button", lang), callback_data=view_data(entry.id, target)
            )
        )
    if entry.history and view is not View.HISTORY:
        row.append(
            InlineKeyboardButton(
                t("history_button", lang), callback_data=view_data(entry.id, View.HISTORY)
            )
        )
    if view is not View.SHORT:
        row.append(
            InlineKeyboardButton(
                t("show_less", lang), callback_data=view_data(entry.id, View.SHORT)
            )
        )
    return row


def with_expand_row(
    markup: InlineKeyboardMarkup | None, entry: Entry, view: View, lang: Lang = Lang.EN
) -> InlineKeyboardMarkup:
    """The message's keyboard with its expand row swapped for the one `view` needs."""
    rows = [
        list(r)
        for r in (markup.inline_keyboard if markup else ())
        if not any(str(b.callback_data or "").startswith("x:") for b in r)
    ]
    return InlineKeyboardMarkup([expand_row(entry, view, lang), *rows])


def subscribe_data(topic: str) -> str:
    return f"sub:{topic}"


def answer_keyboard(
    entry: Entry,
    related: list[Entry],
    did_you_mean: list[Candidate] | None = None,
    lang: Lang = Lang.EN,
    chinese: Mapping[str, ChineseText] | None = None,
    view: View = View.SHORT,
) -> InlineKeyboardMarkup:
    """Under an answer: the expand buttons `view` needs, runners-up the matcher found plausible
    ("❓ Did you mean…"), then related entries, votes and the topic's updates; questions in `lang`
    where they exist."""
    offered = [c.entry for c in did_you_mean or []][:2]
    rows = [expand_row(entry, view, lang)]
    rows += [
        [
            InlineKeyboardButton(
                "❓ "
                + shorten(entry_text(e, lang, chinese or {}).question, BUTTON_LABEL_CHARS - 2),
                callback_data=show_data(e.id),
            )
        ]
        for e in offered
    ]
    shown = {e.id for e in offered}
    rows += [_entry_button(r, lang, chinese) for r in related if r.id not in shown][
        : 3 - len(offered) // 2
    ]
    rows.append(vote_row(entry.id, lang))
    rows.append(
        [
            InlineKeyboardButton(
                t("updates_on", lang, topic=topic_name(entry.topic, lang)),
                callback_data=subscribe_data(entry.topic.value),
            )
        ]
    )
    return InlineKeyboardMarkup(rows)


def group_answer_keyboard(
    entry: Entry, bot_username: str, lang: Lang = Lang.EN
) -> InlineKeyboardMarkup:
    """Groups get the short form only; caveats and sources open in a private chat (a deep link)."""
    url = f"https://t.me/{bot_username}?start={entry.id}"
    return InlineKeyboardMarkup([[InlineKeyboardButton(t("private_link", lang), url=url)]])


def choices_keyboard(
    candidates: list[Candidate],
    with_topics: bool = False,
    lang: Lang = Lang.EN,
    chinese: Mapping[str, ChineseText] | None = None,
) -> InlineKeyboardMarkup:
    """The entries offered, labelled with their question in the reply's language where it exists."""
    rows = [
        [
            InlineKeyboardButton(
                shorten(entry_text(c.entry, lang, chinese or {}).question),
                callback_data=show_data(c.entry.id),
            )
        ]
        for c in candidates
    ]
    if with_topics:
        rows.append([InlineKeyboardButton(t("browse_button", lang), callback_data=topics_data())])
    return InlineKeyboardMarkup(rows)


def clarify_html(result: MatchResult, lang: Lang = Lang.EN) -> str:
    return f"🤔 {_plain_html(t('clarify', lang))}"


def decline_html(result: MatchResult, lang: Lang = Lang.EN) -> str:
    """On-topic but unknown reads as a gap being filled; off-topic says what the bot covers."""
    if result.asked_about is not None:
        visa = f"<b>{esc(visa_name(VISA_NAMES[result.asked_about], lang))}</b>"
        text = "🤷 " + _plain_html(t(decline_key(result), lang, visa="\0")).replace("\0", visa)
    else:
        text = "🤷 " + _plain_html(t(decline_key(result), lang))
    if result.alternatives:
        return text + "\n\n" + _plain_html(t("closest", lang))
    return text


def smalltalk_html(result: MatchResult, lang: Lang = Lang.EN) -> str:
    assert result.smalltalk is not None
    return (
        _plain_html(t(f"smalltalk.{result.smalltalk.value}", lang))
        + "\n\n"
        + _plain_html(t("browse", lang))
    )
