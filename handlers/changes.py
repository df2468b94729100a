"""/changes: the source watch's review queue in Telegram, for maintainers.

The queue (bot/sources/watch.py `changed_entries`) holds entries with an official source whose page
changed after the entry's `verified_on`. Each is listed with the pages that changed and two
buttons: "✅ Mark verified" (the maintainer re-read the sources and the entry still holds: its
`verified_on` becomes today, written like every other edit, so it leaves the queue) and "✏️ Edit"
(the entry needs changing: the /edit flow starts for it).

callback_data: "cv:<entry-id>" mark verified · "ce:<entry-id>" edit. Both are refused for anyone
not in VISABOT_ADMIN_IDS, so a forged button changes nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest

from bot.replies.telegram_view import esc
from bot.runtime.access import admin_command, admin_only
from bot.runtime.context import BotData, Context
from bot.sources.watch import changed_entries
from handlers.entry_drafts import start_edit
from knowledge.model import Entry
from knowledge.saves import WRITE_LOCK, on_disk
from knowledge.writer import update_entry

log = logging.getLogger(__name__)
MAX_LISTED = 20  # one message each; more would flood the chat (the rest: `visabot sources changed`)


def _changed_at(data: BotData, url: str) -> str:
    seen = data.db.source_check(url)
    return str(seen["changed_at"])[:10] if seen and seen["changed_at"] else "?"


def queue_item_html(data: BotData, entry: Entry, urls: list[str]) -> str:
    pages = "\n".join(f'• <a href="{esc(u)}">{esc(u)}</a> (changed {_changed_at(data, u)})' for u in urls)
    return (
        f"🔎 <code>{esc(entry.id)}</code> · verified {entry.verified_on.isoformat()}\n"
        f"<b>{esc(entry.question)}</b>\n\nOfficial source(s) changed since:\n{pages}"
    )


def queue_keyboard(entry_id: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[
        InlineKeyboardButton("✅ Mark verified", callback_data=f"cv:{entry_id}"),
        InlineKeyboardButton("✏️ Edit", callback_data=f"ce:{entry_id}"),
    ]])


@admin_command("/changes")
async def on_changes(update: Update, context: Context) -> None:
    assert update.message is not None
    data = context.bot_data
    queue = await asyncio.to_thread(changed_entries, data.matcher.base.entries, data.db)
    if not queue:
        await update.message.reply_text(
            "✅ No entry waits for review: no official source changed after its entry was verified "
            "(as far as the last <code>visabot sources check</code> saw)."
        )
        return
    more = f" The first {MAX_LISTED} are below; all: <code>visabot sources changed</code>." if len(queue) > MAX_LISTED else ""
    await update.message.reply_text(
        f"🔎 <b>{len(queue)} entr{'y' if len(queue) == 1 else 'ies'} to re-verify</b>: an official source "
        "changed after the entry was verified. Re-read the pages, then Mark verified if the entry still "
        f"holds, or Edit it.{more}"
    )
    for entry, urls in queue[:MAX_LISTED]:
        await update.message.reply_text(queue_item_html(data, entry, urls), reply_markup=queue_keyboard(entry.id))


def mark_verified(data: BotData, entry_id: str, today: dt.date) -> Entry | None:
    """Set the entry's verified_on to `today` (read from disk, so no concurrent change is lost;
    written through knowledge.writer, locked and atomic) and serve it. None when it is gone."""
    assert data.settings is not None
    root = data.settings.knowledge_dir
    with WRITE_LOCK:
        current = on_disk(root, entry_id)
        if current is None:
            return None
        if current.verified_on >= today:
            return current
        entry = Entry.model_validate({**current.model_dump(), "verified_on": today})
        data.reload(update_entry(root, entry))
    return entry


@admin_only("mark an entry verified")
async def on_mark_verified(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    entry_id = query.data.removeprefix("cv:")
    today = dt.date.today()
    entry = await asyncio.to_thread(mark_verified, context.bot_data, entry_id, today)
    message = query.message if isinstance(query.message, Message) else None
    if entry is None:
        await query.answer("No such entry on disk (deleted meanwhile?). Nothing changed.", show_alert=True)
        return
    log.info("admin %s marked entry %s verified on %s", query.from_user.id, entry_id, today.isoformat())
    await query.answer("Marked verified.")
    if message is not None:
        try:
            await message.edit_text(
                f"✅ <code>{esc(entry_id)}</code> marked verified on {today.isoformat()}: it leaves the queue.",
            )
        except BadRequest as exc:  # a double tap: "message is not modified"
            if "not modified" not in str(exc).lower():
                raise


@admin_only("a /changes button")
async def on_edit_button(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    await query.answer()
    if isinstance(query.message, Message):
        await start_edit(query.message, context, query.data.removeprefix("ce:"))
