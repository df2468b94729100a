"""Questions: private text, /ask, mentions and replies in groups; the answer/clarify/decline replies."""

from __future__ import annotations

import re

from telegram import Message, MessageEntity, Update, User
from telegram.constants import ChatType
from telegram.error import BadRequest

from bot.delivery.watch import Watches
from bot.i18n import Lang, choose, detect, entry_text, t
from bot.replies.telegram_view import (
    View,
    answer_keyboard,
    choices_keyboard,
    clarify_html,
    decline_html,
    entry_view_messages,
    group_answer_keyboard,
    smalltalk_html,
    with_expand_row,
)
from bot.runtime.context import Context
from handlers.language import tapped_language, user_language
from handlers.watch import with_watch_button
from knowledge.matcher import Candidate, Outcome
from knowledge.model import Entry


async def send_entry(
    message: Message,
    context: Context,
    entry: Entry,
    question: str | None = None,
    did_you_mean: list[Candidate] | None = None,
    view: View = View.SHORT,
    lang: Lang | None = None,
) -> None:
    """Send an entry as one phone-sized message whose buttons expand it in place.

    A group gets the short form with a link to the rest in a private chat, so a busy group is not
    flooded with caveats and source lists. `lang` defaults to the user's /language choice.
    """
    lang = lang or reply_language(context, message.from_user, question or "")
    shown = entry_text(entry, lang, context.bot_data.matcher.base.chinese)
    if message.chat.type == ChatType.PRIVATE:
        related = [
            e
            for e in (context.bot_data.matcher.base.get(r) for r in entry.related)
            if e is not None
        ]
        markup = answer_keyboard(
            entry, related, did_you_mean, lang, context.bot_data.matcher.base.chinese, view
        )
        watching = Watches(context.bot_data.db).watching(message.chat.id, entry.id)
        markup = with_watch_button(markup, entry.id, watching, lang)
        parts = entry_view_messages(entry, view, text=shown)
    else:
        markup = group_answer_keyboard(entry, context.bot.username, lang)
        parts = entry_view_messages(entry, View.SHORT, text=shown)
    for n, text in enumerate(parts, 1):  # one part, unless an expanded entry outgrows a message
        sent = await message.reply_text(text, reply_markup=markup if n == len(parts) else None)
    if question:
        context.bot_data.remember_question(sent.chat.id, sent.message_id, question)
    context.bot_data.remember_answer(sent.chat.id, sent.message_id, entry.id)
    context.bot_data.db.count_asked(entry.id)


async def answer_question(message: Message, context: Context, text: str) -> None:
    """Match `text` and reply: the answer, "did you mean…", or an honest decline."""
    data = context.bot_data
    replied = message.reply_to_message
    previous_id = data.context_entry_id(
        message.chat.id,
        replied.message_id if replied is not None else None,
        message.chat.type == "private",
    )
    previous = data.matcher.base.get(previous_id) if previous_id else None
    result = data.matcher.match(text, context=previous)
    lang = reply_language(context, message.from_user, text)
    if result.outcome is Outcome.SMALLTALK:
        await message.reply_text(smalltalk_html(result, lang))
    elif result.outcome is Outcome.ANSWER and result.entry is not None:
        await send_entry(
            message,
            context,
            result.entry,
            question=text,
            did_you_mean=result.alternatives,
            lang=lang,
        )
        for part in result.also:  # a compound question: each part's answer in its own message
            await send_entry(message, context, part.entry, question=text, lang=lang)
    elif result.outcome is Outcome.CLARIFY:
        choices = choices_keyboard(
            result.alternatives, lang=lang, chinese=data.matcher.base.chinese
        )
        await message.reply_text(clarify_html(result, lang), reply_markup=choices)
    else:
        context.bot_data.db.log_unanswered(text)
        markup = choices_keyboard(
            result.alternatives, with_topics=True, lang=lang, chinese=data.matcher.base.chinese
        )
        await message.reply_text(decline_html(result, lang), reply_markup=markup)


def reply_language(context: Context, user: User | None, text: str) -> Lang:
    """The user's /language choice, else the script of what they wrote."""
    return choose(context.bot_data.db.language(user.id) if user is not None else None, text)


async def on_private_text(update: Update, context: Context) -> None:
    assert update.message is not None and update.message.text is not None
    await answer_question(update.message, context, update.message.text)


async def on_ask_command(update: Update, context: Context) -> None:
    assert update.message is not None
    question = " ".join(context.args or [])
    if not question.strip():
        await update.message.reply_text(
            t("ask_usage", user_language(context, update.message.from_user))
        )
        return
    await answer_question(update.message, context, question)


def _mentions_bot(message: Message, username: str) -> bool:
    mentions = message.parse_entities([MessageEntity.MENTION]).values()
    return any(m.lower() == f"@{username.lower()}" for m in mentions)


async def on_group_mention(update: Update, context: Context) -> None:
    """In groups the bot answers only when @mentioned (or replied to, or /ask)."""
    message = update.message
    assert message is not None and message.text is not None
    username = context.bot.username
    if not _mentions_bot(message, username):
        return
    question = re.sub(rf"@{re.escape(username)}\b", " ", message.text, flags=re.IGNORECASE).strip()
    if not question:
        await message.reply_text(t("ask_usage", user_language(context, message.from_user)))
        return
    await answer_question(message, context, question)


async def on_group_reply(update: Update, context: Context) -> None:
    message = update.message
    assert message is not None and message.text is not None
    replied = message.reply_to_message
    if replied is None or replied.from_user is None or replied.from_user.id != context.bot.id:
        return
    await answer_question(message, context, message.text)


async def on_expand(update: Update, context: Context) -> None:
    """ "⚠️ N more caveats", "📚 Sources", "Show less": edit the answer in place."""
    query = update.callback_query
    assert query is not None and query.data is not None
    _, entry_id, view_code = query.data.split(":")
    entry = context.bot_data.matcher.base.get(entry_id)
    message = query.message
    if entry is None or message is None or not message.is_accessible:
        await query.answer(t("entry_gone", tapped_language(context, query)), show_alert=True)
        return
    await query.answer()
    view = View(view_code)
    lang = detect(message.text or "")  # type: ignore[attr-defined]  # the language the answer was shown in
    markup = with_expand_row(message.reply_markup, entry, view, lang)  # type: ignore[attr-defined]
    first, *rest = entry_view_messages(
        entry, view, text=entry_text(entry, lang, context.bot_data.matcher.base.chinese)
    )
    try:
        await query.edit_message_text(first, reply_markup=markup if not rest else None)
    except BadRequest as exc:  # "message is not modified" after a double tap is harmless
        if "not modified" not in str(exc).lower():
            raise
    for n, text in enumerate(rest, 1):  # an entry too long for one message continues below
        await message.reply_text(text, reply_markup=markup if n == len(rest) else None)  # type: ignore[attr-defined]
