"""/delete ID in Telegram: remove an entry, after a confirmation button.

The file is removed under the knowledge folder's write lock (knowledge/saves.py) and the bot
stops answering with the entry at once; entries still naming it as related are listed.

callback_data: "ed:<entry-id>" delete · "edx" keep.
"""

from __future__ import annotations

import asyncio
import logging
import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.replies.telegram_view import esc
from bot.runtime.access import admin_command, admin_only
from bot.runtime.context import Context
from handlers.maintainer_ui import callback, edit, knowledge_dir, query_message
from knowledge.saves import delete_entry, on_disk
from knowledge.writer import NoSuchEntry

log = logging.getLogger(__name__)


@admin_command("/delete")
async def on_delete(update: Update, context: Context) -> None:
    """/delete ID: ask for confirmation with a button; nothing is removed before it is pressed."""
    assert update.message is not None
    args = context.args or []
    if len(args) != 1 or not re.fullmatch(r"[a-z0-9-]{1,48}", args[0]):
        await update.message.reply_text("Usage: <code>/delete ENTRY-ID</code>, e.g. <code>/delete h1b-masters-cap</code>.")
        return
    entry_id = args[0]
    if on_disk(knowledge_dir(context.bot_data), entry_id) is None and context.bot_data.matcher.base.get(entry_id) is None:
        await update.message.reply_text(f"No entry <code>{esc(entry_id)}</code>. Nothing to delete.")
        return
    keyboard = InlineKeyboardMarkup([[
        InlineKeyboardButton("🗑 Delete", callback_data=callback(f"ed:{entry_id}")),
        InlineKeyboardButton("Cancel", callback_data="edx"),
    ]])
    await update.message.reply_text(
        f"Delete <code>{esc(entry_id)}</code>? Its file is removed and the bot stops answering with it at once.",
        reply_markup=keyboard,
    )


@admin_only("entry delete")
async def on_delete_button(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    message = query_message(update)
    await query.answer()
    if query.data == "edx":
        await edit(message, "Not deleted.")
        return
    entry_id = query.data.removeprefix("ed:")
    try:
        referring = await asyncio.to_thread(delete_entry, context.bot_data, knowledge_dir(context.bot_data), entry_id)
    except NoSuchEntry:
        await edit(message, f"No entry <code>{esc(entry_id)}</code> on disk (deleted meanwhile?). Nothing deleted.")
        return
    log.info("admin %s deleted entry %s", query.from_user.id, entry_id)
    text = f"🗑 Deleted <code>{esc(entry_id)}</code>: {len(context.bot_data.matcher.base.entries)} entries now served."
    if referring:
        text += f"\nStill listed as related by: {esc(', '.join(referring))} (<code>visabot kb lint</code> reports them)."
    await edit(message, text)
