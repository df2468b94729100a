"""Stickers, photos, voice notes and files: one short line on what the bot can do."""

from __future__ import annotations

from telegram import Update

from bot.context import Context

TEXT_ONLY = "I can only read text. Type your question about the K visa or the H-1B, or use /topics."


async def on_media(update: Update, context: Context) -> None:
    assert update.message is not None
    await update.message.reply_text(TEXT_ONLY)
