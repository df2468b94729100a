"""👁 Watch in Telegram: the button under a private answer, and /watching to list and remove.

The button sits in the answer's last row, beside "🔔 Updates on …", so the first screen keeps its
height. Tapping toggles the watch and relabels the button ("👁 Watching ✓"). Watches are for private
chats only: a notice goes to the chat that asked for it, and a group is many people.

callback_data: "w:<entry-id>" toggle under an answer · "wu:<entry-id>" stop, from /watching.
"""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update, User
from telegram.constants import ChatType
from telegram.error import BadRequest

from bot.delivery.watch import Watches
from bot.i18n import Lang, choose, detect, entry_text, t
from bot.replies.telegram_view import esc, shorten
from bot.runtime.context import Context

log = logging.getLogger(__name__)
MAX_LISTED = 50  # buttons under one /watching message (Telegram allows 100)


def watch_data(entry_id: str) -> str:
    return f"w:{entry_id}"


def with_watch_button(markup: InlineKeyboardMarkup, entry_id: str, watching: bool, lang: Lang) -> InlineKeyboardMarkup:
    """The answer's keyboard with its watch button (re)labelled: in the row of the topic's
    updates button when there is one, else in a row of its own."""
    button = InlineKeyboardButton(t("watch.watching" if watching else "watch.button", lang), callback_data=watch_data(entry_id))
    rows = [[b for b in row if not str(b.callback_data or "").startswith("w:")] for row in markup.inline_keyboard]
    rows = [row for row in rows if row]
    for row in rows:
        if any(str(b.callback_data or "").startswith("sub:") for b in row):
            row.append(button)
            break
    else:
        rows.append([button])
    return InlineKeyboardMarkup(rows)


def _private_user(update: Update) -> User | None:
    """The user, when this update comes from their private chat with the bot."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None or chat.type != ChatType.PRIVATE or chat.id != user.id:
        return None
    return user


async def on_watch_button(update: Update, context: Context) -> None:
    """Toggle the watch on this answer's entry and relabel the button."""
    query = update.callback_query
    assert query is not None and query.data is not None
    user = _private_user(update)
    message = query.message if isinstance(query.message, Message) else None
    lang = detect(message.text or "") if message is not None else Lang.EN  # the answer's language
    if user is None:
        await query.answer(t("watch.private_only", lang), show_alert=True)
        return
    entry_id = query.data.removeprefix("w:")
    watches = Watches(context.bot_data.db)
    entry = context.bot_data.matcher.base.get(entry_id)
    if watches.watching(user.id, entry_id):
        watches.remove(user.id, entry_id)
        watching = False
    elif entry is None:
        await query.answer(t("watch.gone", lang), show_alert=True)
        return
    else:
        watches.add(user.id, entry)
        watching = True
    await query.answer(t("watch.on" if watching else "watch.off", lang), show_alert=watching)
    if message is not None and message.reply_markup is not None:
        try:
            await message.edit_reply_markup(with_watch_button(message.reply_markup, entry_id, watching, lang))
        except BadRequest as exc:  # a double tap: "message is not modified"
            if "not modified" not in str(exc).lower():
                raise


def watching_view(context: Context, chat_id: int, lang: Lang) -> tuple[str, InlineKeyboardMarkup | None]:
    """/watching's text and its remove buttons, one per watched entry."""
    ids = Watches(context.bot_data.db).of_chat(chat_id)
    if not ids:
        return esc(t("watching.none", lang)), None
    base = context.bot_data.matcher.base
    rows = []
    for entry_id in ids[:MAX_LISTED]:
        entry = base.get(entry_id)
        label = shorten(entry_text(entry, lang, base.chinese).question, 56) if entry else entry_id
        rows.append([InlineKeyboardButton(f"✖ {label}", callback_data=f"wu:{entry_id}")])
    text = esc(t("watching.list", lang, n=len(ids)))
    if len(ids) > MAX_LISTED:
        text += "\n" + esc(t("watching.more", lang, n=len(ids) - MAX_LISTED))
    return text, InlineKeyboardMarkup(rows)


def _language(context: Context, user: User) -> Lang:
    return choose(context.bot_data.db.language(user.id), "", user.language_code)


async def on_watching(update: Update, context: Context) -> None:
    message = update.message
    assert message is not None
    user = _private_user(update)
    if user is None:
        await message.reply_text(esc(t("watch.private_only", Lang.EN)))
        return
    text, markup = watching_view(context, user.id, _language(context, user))
    await message.reply_text(text, reply_markup=markup)


async def on_unwatch_button(update: Update, context: Context) -> None:
    """A remove button under /watching: stop that watch and show the list as it is now."""
    query = update.callback_query
    assert query is not None and query.data is not None
    user = _private_user(update)
    if user is None:
        await query.answer(t("watch.private_only", Lang.EN), show_alert=True)
        return
    lang = _language(context, user)
    Watches(context.bot_data.db).remove(user.id, query.data.removeprefix("wu:"))
    await query.answer(t("watching.removed", lang))
    if isinstance(query.message, Message):
        text, markup = watching_view(context, user.id, lang)
        try:
            await query.message.edit_text(text, reply_markup=markup)
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                raise
