"""Telegram HTML for answers, clarifications and declines, plus their inline keyboards.

Every user- or entry-derived string goes through `esc` — entries are curated, but maintainers
write them in Telegram too, and a stray "<" must never break a reply. Messages are measured as
Telegram does (visible text after entity parsing, in UTF-16 code units) and split at paragraph
boundaries so the caveat block always travels whole.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.render import (
    CLARIFY_TEXT,
    NOT_ADVICE,
    SMALLTALK_TEXT,
    VISA_NAMES,
    lapse_note,
    source_date,
    stale_note,
)
from bot.telegram_html import visible_length
from knowledge.matcher import Candidate, MatchResult
from knowledge.model import Entry, Status, Topic

MAX_MESSAGE_UNITS = 4096
BUTTON_LABEL_CHARS = 60
STATUS_BADGES = {
    Status.OFFICIAL: "✅ Official",
    Status.REPORTED: "📰 Reported, not confirmed officially",
    Status.UNCLEAR: "⚖️ Unclear: sources conflict",
    Status.PENDING: "⏳ Pending: not yet published by the authority",
}
TOPIC_LABELS = {
    Topic.K_VISA: "🇨🇳 China's K visa",
    Topic.H1B: "🇺🇸 US H-1B",
    Topic.COMPARE: "⚖️ K visa vs H-1B",
    Topic.CONTEXT: "🌐 Background",
}
DECLINE_HTML = (
    "🤷 I don't have a sourced answer to that.\n\n"
    "I cover China's <b>K visa</b> and the US <b>H-1B</b>. Try other words, or browse /topics."
)


def esc(text: str) -> str:
    return html.escape(text, quote=True)



def shorten(text: str, limit: int = BUTTON_LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class Block:
    html: str
    keep_whole: bool = False


def entry_blocks(entry: Entry, today: dt.date | None = None) -> list[Block]:
    lapsed = lapse_note(entry, today)
    blocks = [Block(f"<b>{esc(lapsed)}</b>")] if lapsed else []
    blocks += [Block(f"<b>{esc(entry.question)}</b>"), *(Block(esc(p)) for p in entry.answer.split("\n\n"))]
    if entry.caveats:
        caveats = "\n".join(f"• {esc(c)}" for c in entry.caveats)
        blocks.append(Block(f"⚠️ <b>Caveats</b>\n{caveats}", keep_whole=True))
    sources = "\n".join(
        f'{n}. <a href="{esc(s.url)}">{esc(s.title)}</a> — {esc(s.publisher)}, {esc(source_date(s))}'
        for n, s in enumerate(entry.sources, 1)
    )
    blocks.append(Block(f"{STATUS_BADGES[entry.shown_status(today)]} · As of {entry.as_of.isoformat()}"))
    blocks.append(Block(f"📚 <b>Sources</b>\n{sources}"))
    note = stale_note(entry, today)
    if note:
        blocks.append(Block(f"⏰ <i>{esc(note)}</i>"))
    blocks.append(Block(f"<i>{esc(NOT_ADVICE)}</i>"))
    return blocks


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


def topics_data(topic: str | None = None, page: int = 0) -> str:
    return "t" if topic is None else f"t:{topic}:{page}"


def _entry_button(entry: Entry) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(shorten(entry.question), callback_data=show_data(entry.id))]


def subscribe_data(topic: str) -> str:
    return f"sub:{topic}"


def answer_keyboard(entry: Entry, related: list[Entry], did_you_mean: list[Candidate] | None = None) -> InlineKeyboardMarkup:
    """Under an answer: runners-up the matcher found plausible ("❓ Did you mean…"), then related
    entries, votes and the topic's updates."""
    offered = [c.entry for c in did_you_mean or []][:2]
    rows = [[InlineKeyboardButton("❓ " + shorten(e.question, BUTTON_LABEL_CHARS - 2), callback_data=show_data(e.id))] for e in offered]
    shown = {e.id for e in offered}
    rows += [_entry_button(r) for r in related if r.id not in shown][: 3 - len(offered) // 2]
    rows.append(
        [
            InlineKeyboardButton("👍 Helpful", callback_data=vote_data(entry.id, True)),
            InlineKeyboardButton("👎 Not helpful", callback_data=vote_data(entry.id, False)),
        ]
    )
    label = TOPIC_LABELS[entry.topic].split(" ", 1)[1]
    rows.append([InlineKeyboardButton(f"🔔 Updates on {label}", callback_data=subscribe_data(entry.topic.value))])
    return InlineKeyboardMarkup(rows)


def choices_keyboard(candidates: list[Candidate], with_topics: bool = False) -> InlineKeyboardMarkup:
    rows = [_entry_button(c.entry) for c in candidates]
    if with_topics:
        rows.append([InlineKeyboardButton("📂 Browse topics", callback_data=topics_data())])
    return InlineKeyboardMarkup(rows)


def clarify_html(result: MatchResult) -> str:
    return f"🤔 {esc(CLARIFY_TEXT)}"


def decline_html(result: MatchResult) -> str:
    """On-topic but unknown reads as a gap being filled; off-topic says what the bot covers."""
    if result.asked_about is not None:
        text = (
            f"🤷 I don't have a sourced answer to that <b>{esc(VISA_NAMES[result.asked_about])}</b> question yet; "
            "it has been passed to the maintainers."
        )
    else:
        text = DECLINE_HTML
    if result.alternatives:
        return text + "\n\nThe closest entries I have are below; they may not fit your question."
    return text


def smalltalk_html(result: MatchResult) -> str:
    assert result.smalltalk is not None
    return esc(SMALLTALK_TEXT[result.smalltalk]) + "\n\nBrowse what I know: /topics"

