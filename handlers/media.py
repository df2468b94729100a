"""Stickers, photos, voice notes and files: one short line on what the bot can do."""

from __future__ import annotations

from telegram import Update

from bot.i18n import t
from bot.runtime.context import Context
from handlers.language import user_language


async def on_media(update: Update, context: Context) -> None:
    assert update.message is not None
    await update.message.reply_text(t("text_only", user_language(context, update.message.from_user)))
