"""Inline-keyboard navigation: topics, entry pages, "show this entry" and 👍/👎 votes.

callback_data formats (ids only, ≤ 64 bytes): "t" topic menu · "t:<topic>:<page>" a page of one
topic · "a:<entry-id>" show that entry · "v:<entry-id>:<1|0>" vote (again, the other way: change it).
"""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType
from telegram.error import BadRequest

from bot.i18n import Lang, entry_text, t, topic_label
from bot.replies.telegram_view import esc, shorten, show_data, topics_data, with_vote_row
from bot.runtime.context import Context
from handlers.ask import send_entry
from handlers.language import tapped_language, user_language
from knowledge.browse_order import browse_sorted, curated_order
from knowledge.model import Topic

log = logging.getLogger(__name__)
PAGE_SIZE = 8
BROWSE_ASKED_LIMIT = 1000  # more than the knowledge base will hold; one cheap indexed query


def topic_menu(context: Context, lang: Lang = Lang.EN) -> tuple[str, InlineKeyboardMarkup]:
    entries = context.bot_data.matcher.base.entries
    rows = []
    for topic in Topic:
        count = sum(e.topic is topic for e in entries)
        if count:
            rows.append([InlineKeyboardButton(f"{topic_label(topic, lang)} ({count})", callback_data=topics_data(topic.value, 0))])
    return t("browse.menu", lang), InlineKeyboardMarkup(rows)


def topic_page(context: Context, topic: Topic, page: int, lang: Lang = Lang.EN) -> tuple[str, InlineKeyboardMarkup]:
    """One page of a topic's questions, in `lang` where the entry has it."""
    entries = browse_sorted(
        (e for e in context.bot_data.matcher.base.entries if e.topic is topic),
        curated_order().get(topic.value, ()),
        context.bot_data.db.most_asked(limit=BROWSE_ASKED_LIMIT),
    )
    pages = max(1, -(-len(entries) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    shown = entries[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    chinese = context.bot_data.matcher.base.chinese
    rows = [[InlineKeyboardButton(shorten(entry_text(e, lang, chinese).question), callback_data=show_data(e.id))] for e in shown]
    nav = []
    if page > 0:
        nav.append(InlineKeyboardButton(t("browse.prev", lang), callback_data=topics_data(topic.value, page - 1)))
    if page < pages - 1:
        nav.append(InlineKeyboardButton(t("browse.next", lang), callback_data=topics_data(topic.value, page + 1)))
    if nav:
        rows.append(nav)
    rows.append([InlineKeyboardButton(t("browse.back", lang), callback_data=topics_data())])
    title = t("browse.page", lang, topic=esc(topic_label(topic, lang)), page=page + 1, pages=pages)
    return f"<b>{title}</b>", InlineKeyboardMarkup(rows)


async def on_topics(update: Update, context: Context) -> None:
    assert update.message is not None
    text, markup = topic_menu(context, user_language(context, update.message.from_user))
    await update.message.reply_text(text, reply_markup=markup)


async def on_topics_callback(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    parts = query.data.split(":")
    lang = tapped_language(context, query)
    if len(parts) == 3 and parts[1] in Topic._value2member_map_ and parts[2].isdigit():
        text, markup = topic_page(context, Topic(parts[1]), int(parts[2]), lang)
    else:
        text, markup = topic_menu(context, lang)
    await query.answer()
    try:
        await query.edit_message_text(text, reply_markup=markup)
    except BadRequest as exc:  # "message is not modified" after a double tap is harmless
        if "not modified" not in str(exc).lower():
            raise


async def on_show_entry(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    entry = context.bot_data.matcher.base.get(query.data.removeprefix("a:"))
    lang = tapped_language(context, query)
    if entry is None:
        await query.answer(t("entry_gone", lang), show_alert=True)
        return
    await query.answer()
    if query.message is not None and query.message.is_accessible:
        await send_entry(query.message, context, entry, lang=lang)  # type: ignore[arg-type]


async def on_vote(update: Update, context: Context) -> None:
    """Count a 👍/👎, or change the user's vote on this answer, and tick it in the keyboard."""
    query = update.callback_query
    assert query is not None and query.data is not None
    _, entry_id, direction = query.data.split(":")
    message = query.message
    if context.bot_data.matcher.base.get(entry_id) is None or message is None:
        await query.answer()
        return
    up = direction == "1"
    question = context.bot_data.recent_questions.get((message.chat.id, message.message_id))
    result = context.bot_data.db.record_vote(
        entry_id, up, user_id=query.from_user.id, chat_id=message.chat.id,
        message_id=message.message_id, question=question,
    )
    lang = tapped_language(context, query)
    await query.answer(t(f"vote.{result.value}", lang))
    # A group's message is seen by everyone: one member's tick there would read as everyone's.
    if not isinstance(message, Message) or message.chat.type != ChatType.PRIVATE or message.reply_markup is None:
        return
    markup = with_vote_row(message.reply_markup, entry_id, lang, up)
    if markup != message.reply_markup:
        try:
            await query.edit_message_reply_markup(markup)
        except BadRequest as exc:  # "message is not modified" after a double tap is harmless
            if "not modified" not in str(exc).lower():
                raise
