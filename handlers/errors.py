"""The global error handler: log with context, apologise, keep running."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import Forbidden, TelegramError

from bot.i18n import choose, t
from bot.runtime.context import Context

log = logging.getLogger(__name__)


async def on_error(update: object, context: Context) -> None:
    """Logs the update's kind and ids only: never message text, never the token."""
    where = "no update"
    if isinstance(update, Update):
        chat = update.effective_chat
        where = f"update {update.update_id} chat {chat.id if chat else '-'} type {chat.type if chat else '-'}"
    log.error("error while handling %s", where, exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat and not isinstance(context.error, Forbidden):
        try:
            # The Telegram app's language only: the stored choice would need the database, which
            # may be what failed.
            user = update.effective_user
            lang = choose(None, "", user.language_code if user else None)
            await context.bot.send_message(update.effective_chat.id, t("apology", lang))
        except TelegramError:
            log.warning("could not send the apology for %s", where)
