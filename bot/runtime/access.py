"""Who may use the maintainers' handlers, and where: `admin_only` and `admin_command`.

Maintainers are the user ids in VISABOT_ADMIN_IDS. Anyone else who sends a maintainer command or
presses (or forges) a maintainer button gets a short refusal and a log line, and the handler does
not run. Maintainer commands work only in a private chat: in a group a maintainer gets a short
hint instead, because the replies hold users' questions, statistics and drafts that the group
must not see. Decorate the handler where it is defined, so no registration can forget it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Update

from bot.runtime.context import Context

log = logging.getLogger(__name__)

NOT_ALLOWED = "⛔ Not allowed: only the bot's maintainers can do that."
IN_PRIVATE_ONLY = (
    "🔒 Maintainer commands work only in a private chat with me, so nothing users asked is posted "
    "to a group. Send it to me directly."
)
Handler = Callable[[Update, Context], Coroutine[Any, Any, None]]


async def refuse(update: Update, context: Context, what: str) -> bool:
    """True (and a short refusal, and a log line) when the user is not a maintainer."""
    user = update.effective_user
    if context.bot_data.is_admin(user.id if user else None):
        return False
    log.warning("non-admin user %s tried %s", user.id if user else "?", what)
    if update.callback_query:
        await update.callback_query.answer(NOT_ALLOWED, show_alert=True)
    elif update.effective_message:
        await update.effective_message.reply_text(NOT_ALLOWED)
    return True


def admin_only(what: str) -> Callable[[Handler], Handler]:
    """Run the handler for maintainers only; `what` names it in the log ("/add", "entry save")."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(update: Update, context: Context) -> None:
            if not await refuse(update, context, what):
                await handler(update, context)

        return guarded

    return decorate


def admin_command(what: str) -> Callable[[Handler], Handler]:
    """`admin_only`, and in a private chat only: elsewhere a maintainer gets IN_PRIVATE_ONLY."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def in_private(update: Update, context: Context) -> None:
            chat = update.effective_chat
            if chat is not None and chat.type != "private":
                if update.effective_message is not None:
                    await update.effective_message.reply_text(IN_PRIVATE_ONLY)
                return
            await handler(update, context)

        return admin_only(what)(in_private)

    return decorate
