"""/gaps in Telegram: the questions the bot could not answer, most asked first, and what a
maintainer does with each: add an entry for it, attach it to an entry as an alternate, or dismiss it.

callback_data (≤ 64 bytes; ids and keys only, never user text):
  "gn:<gap>" new entry from an unanswered question · "ga:<gap>" attach: show matching entries ·
  "gt:<gap>:<entry-id>" attach to that entry · "gx:<gap>" dismiss · "gb:<gap>" back
<gap> is "<row id in base 36>.<5 hex digits of a hash of the question's key>": a button whose
row was deleted (and its id reused) cannot act on another question.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.access import admin_command, admin_only
from bot.context import BotData, Context
from bot.logs import user_text
from bot.telegram_render import esc, shorten
from handlers.entry_drafts import EntryDraft, prompt_html, start
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
from knowledge.loader import KnowledgeError
from knowledge.matcher import Outcome
from knowledge.saves import attach_alternate

log = logging.getLogger(__name__)

DEFAULT_GAPS, MAX_GAPS = 10, 30
ATTACH_CHOICES = 5


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


def gap_token(row: dict[str, object]) -> str:
    return f"{_b36(int(row['id']))}.{_key_hash(str(row['key']))}"  # type: ignore[call-overload]


def _gap(data: BotData, token: str) -> dict[str, object] | None:
    match = re.fullmatch(r"([0-9a-z]{1,8})\.([0-9a-f]{5})", token)
    if match is None:
        return None
    row = data.db.gap(int(match.group(1), 36))
    return row if row is not None and _key_hash(str(row["key"])) == match.group(2) else None


def _gap_html(row: dict[str, object], status: str = "") -> str:
    last = str(row["last_seen"])[:10]
    head = status or f"<b>{row['count']}×</b> · last asked {esc(last)}"
    return f"{head}\n{esc(str(row['text']))}"


def _gap_keyboard(token: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[
            InlineKeyboardButton("➕ Add entry", callback_data=callback(f"gn:{token}")),
            InlineKeyboardButton("📎 Attach", callback_data=callback(f"ga:{token}")),
            InlineKeyboardButton("✖ Dismiss", callback_data=callback(f"gx:{token}")),
        ]]
    )


@admin_command("/gaps")
async def on_gaps(update: Update, context: Context) -> None:
    assert update.message is not None
    args = context.args or []
    limit = min(int(args[0]), MAX_GAPS) if args and args[0].isdigit() and int(args[0]) > 0 else DEFAULT_GAPS
    rows = context.bot_data.db.gaps(limit)
    if not rows:
        await update.message.reply_text("🎉 No unanswered questions are waiting.")
        return
    await update.message.reply_text(
        f"🕳 <b>Unanswered questions</b>, the {len(rows)} most frequent. <b>Add entry</b> starts /add with "
        "the question as its first alternate; <b>Attach</b> adds it to an existing entry; "
        "<b>Dismiss</b> removes it from this list."
    )
    for row in rows:
        await update.message.reply_text(_gap_html(row), reply_markup=_gap_keyboard(gap_token(row)))


@admin_only("a /gaps button")
async def on_gap_button(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    action, _, rest = query.data.partition(":")
    token, _, entry_id = rest.partition(":")
    data = context.bot_data
    message = query_message(update)
    row = _gap(data, token)
    if row is None or message is None:
        await query.answer("That question is no longer in the list.", show_alert=True)
        await edit(message, None)
        return
    question = " ".join(str(row["text"]).split())
    said = user_text(question, logs_user_text(context))
    admin_id = query.from_user.id
    if action == "gx":
        data.db.remove_gap(int(row["id"]), str(row["key"]))  # type: ignore[call-overload]
        log.info("admin %s dismissed unanswered question %s", admin_id, said)
        await query.answer("Dismissed.")
        await edit(message, _gap_html(row, "✖ <b>Dismissed</b>"))
    elif action == "gn":
        draft = EntryDraft.new(alternates=[question], gaps=[(int(row["id"]), str(row["key"]))])  # type: ignore[call-overload]
        note = start(context, draft)
        await query.answer()
        await message.reply_text(note + prompt_html(draft))
    elif action == "ga":
        choices = [c.entry for c in data.kb.ranked(question, limit=ATTACH_CHOICES)]
        if not choices:
            await query.answer("No entry is close to it: use Add entry, or /edit ID to add it by hand.", show_alert=True)
            return
        rows = [
            [InlineKeyboardButton(shorten(e.question), callback_data=f"gt:{token}:{e.id}")]
            for e in choices
            if len(f"gt:{token}:{e.id}".encode()) <= MAX_CALLBACK_BYTES
        ]
        rows.append([InlineKeyboardButton("⬅ Back", callback_data=callback(f"gb:{token}"))])
        await query.answer("Pick the entry it belongs to.")
        await edit(message, _gap_html(row) + "\n\n📎 Attach it as an alternate of:", InlineKeyboardMarkup(rows))
    elif action == "gb":
        await query.answer()
        await edit(message, _gap_html(row), _gap_keyboard(token))
    elif action == "gt":
        await _attach(update, context, row, question, entry_id)


async def _attach(update: Update, context: Context, row: dict[str, object], question: str, entry_id: str) -> None:
    query = update.callback_query
    message = query_message(update)
    assert query is not None and message is not None
    data = context.bot_data
    try:
        entry, changed = await asyncio.to_thread(attach_alternate, data, knowledge_dir(data), entry_id, question)
    except KnowledgeError as exc:
        await query.answer("Not attached: the knowledge base would be invalid.", show_alert=True)
        await reply_long(message, f"❌ Not attached, nothing was written:\n{problems_html(exc.problems, knowledge_dir(data))}")
        return
    if entry is None:
        await query.answer("That entry no longer exists.", show_alert=True)
        return
    data.db.remove_gap(int(row["id"]), str(row["key"]))  # type: ignore[call-overload]
    log.info("admin %s attached unanswered question %s to %s", query.from_user.id, user_text(question, logs_user_text(context)), entry.id)
    result = data.kb.match(question)
    if result.outcome is Outcome.ANSWER and result.entry is not None and result.entry.id == entry.id:
        effect = "It now gets this answer."
    else:
        got = result.entry.id if result.entry is not None else result.outcome.value
        effect = f"Note: it still gets <i>{esc(got)}</i>; check with <code>visabot kb search</code> and <code>kb lint</code>."
    status = f"📎 <b>Attached</b> to <code>{esc(entry.id)}</code>." if changed else (
        f"📎 Already an alternate of <code>{esc(entry.id)}</code>; removed from the list."
    )
    await query.answer("Attached." if changed else "Already there.")
    await edit(message, _gap_html(row, f"{status} {effect}"))
