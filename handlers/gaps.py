"""/gaps in Telegram: the questions the bot could not answer, as one paged message.

Near-duplicates are grouped, with their total count (bot/gap_clusters.py); questions an entry now
answers are left out (the matcher is run on each); long questions are cut at a word. Everything
happens in place in that one message: tap a number to open a group, then add an entry for it,
attach its questions to an entry (the closest entries, or a search by words), or dismiss it;
◀ ▶ page through the list.

callback_data (≤ 64 bytes; ids and keys only, never user text):
  "gp:<page>" the list · "go:<gap>" open a group · "gn:<gap>" new entry from it ·
  "ga:<gap>" attach: the closest entries · "gs:<gap>" attach: search by words ·
  "gt:<gap>:<entry-id>" attach to that entry · "gx:<gap>" dismiss · "gb:<gap>" back to the group
<gap> names a group by its most asked question: "<row id in base 36>.<5 hex digits of a hash of
the question's key>", so a button whose row was deleted (and its id reused) cannot act on another.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update

from bot.gap_clusters import Cluster, Gap, cluster, unanswered
from bot.logs import user_text
from bot.replies.telegram_view import esc, shorten
from bot.runtime import drafts
from bot.runtime.access import admin_command, admin_only
from bot.runtime.context import BotData, Context
from handlers.entry_drafts import start
from handlers.entry_steps import EntryDraft, prompt_html
from handlers.maintainer_ui import (
    MAX_CALLBACK_BYTES,
    callback,
    edit,
    knowledge_dir,
    logs_user_text,
    problems_html,
    query_message,
    reply_long,
)
from knowledge.authoring import find_entries
from knowledge.lint import lapsed
from knowledge.loader import KnowledgeError
from knowledge.matcher import Outcome
from knowledge.model import Entry
from knowledge.saves import attach_alternates

log = logging.getLogger(__name__)

SCAN = 100  # the most asked unanswered questions read for the list
PAGE_SIZE = 5
LIST_QUESTION_CHARS = 120
ATTACH_CHOICES = 5
GONE = "That question is no longer in the list."


@dataclass
class AttachSearch:
    """A maintainer's pending "search by words" for the group `token` (in the draft slot)."""

    token: str


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:5]


def _token(gap: Gap) -> str:
    return f"{_b36(gap.row_id)}.{_key_hash(gap.key)}"


def gap_token(row: dict[str, object]) -> str:
    return _token(Gap.of(row))


async def _clusters(data: BotData) -> tuple[list[Cluster], int]:
    """The groups still unanswered, most asked first, and how many questions are hidden."""
    gaps = [Gap.of(r) for r in data.db.gaps(SCAN)]
    still, answered = await asyncio.to_thread(unanswered, gaps, data.matcher)
    return cluster(still), answered


async def _find(data: BotData, token: str) -> tuple[Cluster, int] | None:
    """The group a button names (and the list page it is on), or None when its question is gone."""
    match = re.fullmatch(r"([0-9a-z]{1,8})\.([0-9a-f]{5})", token)
    row = data.db.gap(int(match.group(1), 36)) if match else None
    if match is None or row is None or _key_hash(str(row["key"])) != match.group(2):
        return None
    clusters, _ = await _clusters(data)
    for n, found in enumerate(clusters):
        if any(_token(g) == token for g in found.gaps):
            return found, n // PAGE_SIZE
    return Cluster((Gap.of(row),)), 0  # answered meanwhile, or beyond the list: on its own


# ---------------------------------------------------------------- views


def _list_view(
    clusters: list[Cluster], answered: int, page: int, note: str = ""
) -> tuple[str, InlineKeyboardMarkup | None]:
    note = f"{note}\n\n" if note else ""
    hidden = f"\n{answered} more are hidden: an entry answers them now." if answered else ""
    if not clusters:
        return f"{note}🎉 No unanswered questions are waiting.{hidden}", None
    pages = math.ceil(len(clusters) / PAGE_SIZE)
    page = min(max(page, 0), pages - 1)
    first = page * PAGE_SIZE
    shown = clusters[first : first + PAGE_SIZE]
    lines = []
    for n, group in enumerate(shown, first + 1):
        similar = f" <i>(+{len(group.gaps) - 1} similar)</i>" if len(group.gaps) > 1 else ""
        lines.append(
            f"{n}. <b>{group.count}×</b> {esc(shorten(group.lead.text, LIST_QUESTION_CHARS))}{similar}"
        )
    text = (
        f"{note}🕳 <b>Unanswered questions</b>, most asked first, near-duplicates grouped "
        f"({len(clusters)}; page {page + 1} of {pages}).{hidden}\n\n"
        + "\n".join(lines)
        + "\n\nTap a number to add an entry for it, attach it to an entry, or dismiss it."
    )
    rows = [
        [
            InlineKeyboardButton(str(n), callback_data=callback(f"go:{_token(g.lead)}"))
            for n, g in enumerate(shown, first + 1)
        ]
    ]
    nav = []
    if page > 0:
        nav.append(InlineKeyboardButton("◀", callback_data=f"gp:{page - 1}"))
    if page < pages - 1:
        nav.append(InlineKeyboardButton("▶", callback_data=f"gp:{page + 1}"))
    if nav:
        rows.append(nav)
    return text, InlineKeyboardMarkup(rows)


def _group_html(group: Cluster) -> str:
    text = f"<b>{group.count}×</b> · last asked {esc(group.last_seen[:10])}\n{esc(group.lead.text)}"
    if len(group.gaps) > 1:
        also = "\n".join(f"• {esc(shorten(g.text, 200))} ({g.count}×)" for g in group.gaps[1:])
        text += f"\n\nAlso asked as:\n{also}"
    return text


def _group_keyboard(token: str, page: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("➕ Add entry", callback_data=callback(f"gn:{token}")),
                InlineKeyboardButton("📎 Attach", callback_data=callback(f"ga:{token}")),
                InlineKeyboardButton("✖ Dismiss", callback_data=callback(f"gx:{token}")),
            ],
            [InlineKeyboardButton("⬅ List", callback_data=f"gp:{page}")],
        ]
    )


def _pick_keyboard(token: str, entries: list[Entry]) -> InlineKeyboardMarkup:
    rows = [
        [InlineKeyboardButton(shorten(e.question), callback_data=f"gt:{token}:{e.id}")]
        for e in entries
        if len(f"gt:{token}:{e.id}".encode()) <= MAX_CALLBACK_BYTES
    ]
    rows.append(
        [
            InlineKeyboardButton("🔎 Search by words", callback_data=callback(f"gs:{token}")),
            InlineKeyboardButton("⬅ Back", callback_data=callback(f"gb:{token}")),
        ]
    )
    return InlineKeyboardMarkup(rows)


# ---------------------------------------------------------------- handlers


def lapsed_html(entries: Sequence[Entry]) -> str:
    """Entries whose rule passed its own end date (kb lint's `lapsed` findings), which users now
    see as unclear: the most urgent upkeep, so /gaps names them before any unanswered question."""
    found = lapsed(entries)
    if not found:
        return ""
    ids = ", ".join(f"<code>{esc(f.entry_id)}</code>" for f in found)
    return (
        f"⏳ <b>{len(found)} entr{'y' if len(found) == 1 else 'ies'} past their rule's end date</b> "
        f"(users see them as unclear): {ids}. Update each with /edit once you know what happened."
    )


@admin_command("/gaps")
async def on_gaps(update: Update, context: Context) -> None:
    assert update.message is not None
    clusters, answered = await _clusters(context.bot_data)
    text, markup = _list_view(
        clusters, answered, 0, lapsed_html(context.bot_data.matcher.base.entries)
    )
    await update.message.reply_text(text, reply_markup=markup)


@admin_only("a /gaps button")
async def on_gap_button(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    action, _, rest = query.data.partition(":")
    message = query_message(update)
    data = context.bot_data
    if action == "gp":
        clusters, answered = await _clusters(data)
        await query.answer()
        await edit(message, *_list_view(clusters, answered, int(rest) if rest.isdigit() else 0))
        return
    token, _, entry_id = rest.partition(":")
    found = await _find(data, token)
    if found is None or message is None:
        await query.answer(GONE, show_alert=True)
        clusters, answered = await _clusters(data)
        await edit(message, *_list_view(clusters, answered, 0))
        return
    group, page = found
    if action in ("go", "gb"):
        await query.answer()
        await edit(message, _group_html(group), _group_keyboard(token, page))
    elif action == "gx":
        for gap in group.gaps:
            data.db.remove_gap(gap.row_id, gap.key)
        said = user_text(group.lead.text, logs_user_text(context))
        log.info(
            "admin %s dismissed unanswered question %s (%d in its group)",
            query.from_user.id,
            said,
            len(group.gaps),
        )
        await query.answer("Dismissed.")
        await _show_list(
            message, data, page, f"✖ <b>Dismissed</b>: {esc(shorten(group.lead.text, 100))}"
        )
    elif action == "gn":
        questions = list(dict.fromkeys(g.text for g in group.gaps))
        draft = EntryDraft.new(alternates=questions, gaps=[(g.row_id, g.key) for g in group.gaps])
        note = start(context, draft)
        await query.answer()
        await message.reply_text(note + prompt_html(draft))
    elif action == "ga":
        choices = [c.entry for c in data.matcher.ranked(group.lead.text, limit=ATTACH_CHOICES)]
        await query.answer("Pick the entry it belongs to, or search by words.")
        head = (
            "📎 Attach it as an alternate of:"
            if choices
            else "📎 No entry is close to it: search by words."
        )
        await edit(message, _group_html(group) + f"\n\n{head}", _pick_keyboard(token, choices))
    elif action == "gs":
        note = start(context, AttachSearch(token))
        await query.answer()
        await message.reply_text(
            f"{note}🔎 Send words to look for in the entries' ids, questions and alternates, to attach "
            f"“{esc(shorten(group.lead.text, 100))}” to one. /cancel stops."
        )
    elif action == "gt":
        await _attach(update, context, group, page, entry_id)


def has_open_search(context: Context) -> bool:
    return drafts.current(context, AttachSearch) is not None


async def on_cancel(update: Update, context: Context) -> None:
    """/cancel while a search by words waits for its words."""
    drafts.drop(context, AttachSearch)
    assert update.message is not None
    await update.message.reply_text("Search cancelled; nothing was attached.")


async def on_search_text(update: Update, context: Context) -> None:
    """Words from a maintainer after "🔎 Search by words": the entries they find, as buttons."""
    message = update.message
    search = drafts.current(context, AttachSearch)
    assert message is not None and message.text is not None and search is not None
    drafts.drop(context, AttachSearch)
    found = await _find(context.bot_data, search.token)
    if found is None:
        await message.reply_text(GONE)
        return
    entries = find_entries(context.bot_data.matcher, message.text, ATTACH_CHOICES)
    head = (
        "📎 Attach it as an alternate of:"
        if entries
        else "Nothing found: search again with other words."
    )
    await message.reply_text(
        _group_html(found[0]) + f"\n\n{head}", reply_markup=_pick_keyboard(search.token, entries)
    )


async def _show_list(message: Message, data: BotData, page: int, note: str) -> None:
    clusters, answered = await _clusters(data)
    await edit(message, *_list_view(clusters, answered, page, note))


async def _attach(
    update: Update, context: Context, group: Cluster, page: int, entry_id: str
) -> None:
    query = update.callback_query
    message = query_message(update)
    assert query is not None and message is not None
    data = context.bot_data
    questions = [g.text for g in group.gaps]
    try:
        entry, added = await asyncio.to_thread(
            attach_alternates, data, knowledge_dir(data), entry_id, questions
        )
    except KnowledgeError as exc:
        await query.answer("Not attached: the knowledge base would be invalid.", show_alert=True)
        await reply_long(
            message,
            f"❌ Not attached, nothing was written:\n{problems_html(exc.problems, knowledge_dir(data))}",
        )
        return
    if entry is None:
        await query.answer("That entry no longer exists.", show_alert=True)
        return
    for gap in group.gaps:
        data.db.remove_gap(gap.row_id, gap.key)
    said = user_text(group.lead.text, logs_user_text(context))
    log.info("admin %s attached unanswered question %s to %s", query.from_user.id, said, entry.id)
    result = data.matcher.match(group.lead.text)
    if (
        result.outcome is Outcome.ANSWER
        and result.entry is not None
        and result.entry.id == entry.id
    ):
        effect = "It now gets this answer."
    else:
        got = result.entry.id if result.entry is not None else result.outcome.value
        effect = f"Note: it still gets <i>{esc(got)}</i>; check with <code>visabot kb search</code> and <code>kb lint</code>."
    status = (
        f"📎 <b>Attached</b> {len(added)} question(s) to <code>{esc(entry.id)}</code>."
        if added
        else (f"📎 Already alternates of <code>{esc(entry.id)}</code>; removed from the list.")
    )
    await query.answer("Attached." if added else "Already there.")
    await _show_list(message, data, page, f"{status} {effect}")
