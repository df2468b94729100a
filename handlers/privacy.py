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

from bot.context import Context

log = logging.getLogger(__name__)

PRIVACY_HTML = (
    "🔒 <b>What visabot stores, and why</b>\n\n"
    "• <b>Subscriptions</b>: your chat id and the topics you chose, because that is the address "
    "policy updates are sent to. /unsubscribe or /forget removes them.\n"
    "• <b>Language</b>: only if you choose one with /language, your user id and that choice, so "
    "replies come in it. /language → Auto or /forget removes it.\n"
    "• <b>Watches</b> (👁): your chat id and the answers you watch, because that is where a change "
    "is sent. /watching or /forget removes them.\n"
    "• <b>Votes</b> (👍/👎): only a tally per answer is stored, with nothing about who voted. To "
    "count one vote per person, I remember in memory (never on disk) which answers you rated and "
    "how (so you can change your vote), for two days at most; /forget clears that too.\n"
    "• <b>Broadcast deliveries</b>: which chats an update was sent to, so nobody gets it twice.\n"
    "• <b>Questions I could not answer</b> and <b>questions behind a 👎</b>: kept as text (with the day only) "
    "without any user or chat id, so maintainers can add the missing answers. Because nothing links them to "
    "you, they cannot be traced back to you (nor singled out by /forget): please keep personal "
    "details out of your questions.\n"
    "• <b>How often each answer is shown</b>: a count per answer, nothing about who asked.\n"
    "• <b>Unfinished drafts</b> (maintainers only) are kept in memory until finished or cancelled.\n"
    "• <b>Logs</b> never hold the bot token. They hold what you type only when the operator turns "
    "on <code>VISABOT_LOG_USER_TEXT</code> (here: <b>{log_state}</b>).\n\n"
    "Nothing is sold or shared. /forget deletes everything linked to you, at once."
)
PRIVATE_ONLY = "Send /forget to me in a private chat: there it deletes what I store about you."
KEPT_NOTE = (
    "Questions I could not answer and questions behind a 👎 are kept as text with no link to you, "
    "so nothing left identifies you."
)


def _plural(n: int, word: str) -> str:
    singular = {"votes": "vote", "subscriptions": "subscription", "broadcast deliveries": "broadcast delivery",
                "broadcast authorships": "broadcast authorship", "unfinished drafts": "unfinished draft",
                "watches": "watch"}
    return f"{n} {singular.get(word, word) if n == 1 else word}"


async def on_privacy(update: Update, context: Context) -> None:
    assert update.message is not None
    settings = context.bot_data.settings
    state = "on" if settings is not None and settings.log_user_text else "off"
    await update.message.reply_text(PRIVACY_HTML.format(log_state=state))


async def on_forget(update: Update, context: Context) -> None:
    message, user = update.message, update.effective_user
    assert message is not None
    if user is None or message.chat.id != user.id:  # in a group, the chat's data is the group's
        await message.reply_text(PRIVATE_ONLY)
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
    lines = [f"• {_plural(n, what)}" for what, n in counts.items() if n or what in ("votes", "subscriptions")]
    total = sum(counts.values())
    head = "🗑 <b>Done.</b> I deleted everything I stored about you:" if total else (
        "🗑 <b>Done.</b> I had nothing stored about you:"
    )
    await message.reply_text("\n".join([head, *lines, "", KEPT_NOTE]))
