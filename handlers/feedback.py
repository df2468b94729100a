"""/feedback in Telegram: the answers users rated 👎 most, with the questions that led to them,
each with an ✏️ Edit button that opens the entry in /edit.

callback_data: "fe:<entry-id>" edit that entry (handlers/entry_drafts.py's on_edit_button).
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.replies.telegram_view import esc, shorten
from bot.runtime.access import admin_command
from bot.runtime.context import Context
from handlers.maintainer_ui import callback


@admin_command("/feedback")
async def on_feedback(update: Update, context: Context) -> None:
    assert update.message is not None
    data = context.bot_data
    rows = data.db.most_downvoted(10)
    if not rows:
        await update.message.reply_text("No 👎 so far.")
        return
    await update.message.reply_text(f"👎 <b>Answers with the most 👎</b> ({len(rows)}), with the questions that led to them.")
    for entry_id, down, up, questions in rows:
        entry = data.matcher.base.get(entry_id)
        title = esc(entry.question) if entry else "<i>no longer in the knowledge base</i>"
        asked = "\n".join(f"• {esc(shorten(' '.join(q.split()), 200))}" for q in questions) or "<i>no question recorded</i>"
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("✏️ Edit", callback_data=callback(f"fe:{entry_id}"))]]) if entry else None
        await update.message.reply_text(
            f"👎 {down} · 👍 {up} · <code>{esc(entry_id)}</code>\n<b>{title}</b>\n\nAsked as:\n{asked}", reply_markup=markup
        )
