"""/privacy says plainly what is stored and why; /forget deletes everything stored about the user.

Nothing stored links a user to what they asked: declined questions and the questions behind a 👎
are kept as text only (a 👎's question with its day, no time). Votes are per-answer tallies; who
rated which answer is held in memory only, to count one vote per person, and expires. What is
linked to a user — subscriptions and watches (by chat id), those in-memory ratings, broadcast deliveries, a
maintainer's authorship and unfinished drafts — is what /forget deletes.
"""

from __future__ import annotations

import logging

from telegram import Update

from bot.i18n import count_text, t
from bot.runtime.context import Context
from handlers.language import user_language

log = logging.getLogger(__name__)


async def on_privacy(update: Update, context: Context) -> None:
    assert update.message is not None
    settings = context.bot_data.settings
    lang = user_language(context, update.effective_user)
    state = t("privacy.on" if settings is not None and settings.log_user_text else "privacy.off", lang)
    await update.message.reply_text(t("privacy_html", lang, log_state=state))


async def on_forget(update: Update, context: Context) -> None:
    message, user = update.message, update.effective_user
    assert message is not None
    lang = user_language(context, user)  # before the stored choice is deleted
    if user is None or message.chat.id != user.id:  # in a group, the chat's data is the group's
        await message.reply_text(t("forget.private_only", lang))
        return
    data = context.bot_data
    counts = data.db.forget_user(user.id, message.chat.id)
    drafts = 0
    if context.user_data is not None:
        drafts = len(context.user_data)  # broadcast and entry drafts, anything else kept per user
        context.user_data.clear()
    # Questions and answers kept in memory (a 👎's label, follow-ups): drop this chat's.
    data.forget_chat(message.chat.id)
    counts["unfinished drafts"] = drafts
    log.info("/forget: deleted %s", ", ".join(f"{k} {v}" for k, v in counts.items()))  # no user id: forgotten
    lines = [f"• {count_text(f'forget.{what}', n, lang)}" for what, n in counts.items() if n or what in ("votes", "subscriptions")]
    head = t("forget.done" if sum(counts.values()) else "forget.nothing", lang)
    await message.reply_text("\n".join([head, *lines, "", t("forget.kept_note", lang)]))
