"""Questions: private text, /ask, mentions and replies in groups; the answer/clarify/decline replies."""

from __future__ import annotations

import re

from telegram import Message, MessageEntity, Update

from bot.context import Context
from bot.telegram_render import (
    answer_keyboard,
    choices_keyboard,
    clarify_html,
    decline_html,
    entry_messages,
    smalltalk_html,
)
from knowledge.matcher import Candidate, Outcome
from knowledge.model import Entry

ASK_USAGE = "Ask your question after the command, e.g. <code>/ask is the H-1B $100,000 fee annual?</code>"


async def send_entry(
    message: Message,
    context: Context,
    entry: Entry,
    question: str | None = None,
    did_you_mean: list[Candidate] | None = None,
) -> None:
    """Send an entry as one or more messages; the keyboard goes under the last one."""
    parts = entry_messages(entry)
    related = [e for e in (context.bot_data.kb.base.get(r) for r in entry.related) if e is not None]
    for n, text in enumerate(parts, 1):
        markup = answer_keyboard(entry, related, did_you_mean) if n == len(parts) else None
        sent = await message.reply_text(text, reply_markup=markup)
    if question:
        context.bot_data.remember_question(sent.chat.id, sent.message_id, question)
    context.bot_data.remember_answer(sent.chat.id, sent.message_id, entry.id)
    context.bot_data.db.count_asked(entry.id)


async def answer_question(message: Message, context: Context, text: str) -> None:
    """Match `text` and reply: the answer, "did you mean…", or an honest decline."""
    data = context.bot_data
    replied = message.reply_to_message
    previous_id = data.context_entry_id(
        message.chat.id, replied.message_id if replied is not None else None, message.chat.type == "private"
    )
    previous = data.kb.base.get(previous_id) if previous_id else None
    result = data.kb.match(text, context=previous)
    if result.outcome is Outcome.SMALLTALK:
        await message.reply_text(smalltalk_html(result))
    elif result.outcome is Outcome.ANSWER and result.entry is not None:
        await send_entry(message, context, result.entry, question=text, did_you_mean=result.alternatives)
        for part in result.also:  # a compound question: each part's answer in its own message
            await send_entry(message, context, part.entry, question=text)
    elif result.outcome is Outcome.CLARIFY:
        await message.reply_text(clarify_html(result), reply_markup=choices_keyboard(result.alternatives))
    else:
        context.bot_data.db.log_unanswered(text)
        markup = choices_keyboard(result.alternatives, with_topics=True)
        await message.reply_text(decline_html(result), reply_markup=markup)


async def on_private_text(update: Update, context: Context) -> None:
    assert update.message is not None and update.message.text is not None
    await answer_question(update.message, context, update.message.text)


async def on_ask_command(update: Update, context: Context) -> None:
    assert update.message is not None
    question = " ".join(context.args or [])
    if not question.strip():
        await update.message.reply_text(ASK_USAGE)
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
        await message.reply_text(ASK_USAGE)
        return
    await answer_question(message, context, question)


async def on_group_reply(update: Update, context: Context) -> None:
    message = update.message
    assert message is not None and message.text is not None
    replied = message.reply_to_message
    if replied is None or replied.from_user is None or replied.from_user.id != context.bot.id:
        return
    await answer_question(message, context, message.text)
