"""Policy-update subscriptions: /subscribe, /unsubscribe, /subscriptions, 🔔 buttons, deep links,
and unsubscribing users who block the bot.

callback_data: "sub:<topic|all>" subscribes (🔔 under an answer), "subt:<topic|all>" toggles a topic
in the /subscribe picker (✅ marks the subscribed ones), "unsub:<topic|all>" unsubscribes.
"""

from __future__ import annotations

import logging

from telegram import (
    CallbackQuery,
    ChatMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.error import BadRequest, TelegramError

from bot.delivery.subscriptions import ALL_TOPICS
from bot.i18n import Lang, t, topic_label
from bot.runtime.context import Context
from handlers.language import tapped_language, user_language
from knowledge.model import Topic

log = logging.getLogger(__name__)


def subscribable_topics(context: Context) -> list[str]:
    """The topics the knowledge base has entries for, plus "all"."""
    present = {e.topic for e in context.bot_data.matcher.base.entries}
    return [topic.value for topic in Topic if topic in present] + [ALL_TOPICS]


def subscribe_keyboard(context: Context, current: list[str], lang: Lang = Lang.EN) -> InlineKeyboardMarkup:
    rows = [
        [InlineKeyboardButton(("✅ " if topic in current else "") + topic_label(topic, lang), callback_data=f"subt:{topic}")]
        for topic in subscribable_topics(context)
    ]
    return InlineKeyboardMarkup(rows)


def current_text(topics: list[str], lang: Lang = Lang.EN) -> str:
    if not topics:
        return t("sub.none", lang)
    return t("sub.current", lang, names=("、" if lang.chinese else ", ").join(topic_label(x, lang) for x in topics))


async def _may_change_group(query: CallbackQuery, context: Context) -> bool:
    """In a group a 🔔/🔕 button changes the group's subscription, which every member then
    receives: only the group's administrators may (asked of Telegram, not trusted from the
    button). Says why not in the toast."""
    message = query.message
    if message is None or message.chat.type == "private":
        return True
    try:
        member = await context.bot.get_chat_member(message.chat.id, query.from_user.id)
    except TelegramError as exc:
        log.warning("getChatMember failed (%s); group subscription unchanged", type(exc).__name__)
        await query.answer(t("sub.group_check_failed", tapped_language(context, query)), show_alert=True)
        return False
    if member.status in (ChatMember.ADMINISTRATOR, ChatMember.OWNER):
        return True
    await query.answer(t("sub.group_admins_only", tapped_language(context, query)), show_alert=True)
    return False


async def _subscribe(message: Message, context: Context, topic: str, lang: Lang) -> str:
    added = context.bot_data.subscriptions.subscribe(message.chat.id, [topic])
    group = "group_" if message.chat.type != "private" else ""
    return t(f"sub.{group}{'added' if added else 'already'}", lang, what=topic_label(topic, lang))


async def on_subscribe(update: Update, context: Context) -> None:
    message = update.message
    assert message is not None
    current = context.bot_data.subscriptions.topics_of(message.chat.id)
    lang = user_language(context, message.from_user)
    await message.reply_text(t("sub.choose", lang), reply_markup=subscribe_keyboard(context, current, lang))


async def on_subscribe_menu_button(update: Update, context: Context) -> None:
    """The welcome message's "Get policy updates" button opens the same topic choice."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    if isinstance(query.message, Message):  # not an old, inaccessible message
        current = context.bot_data.subscriptions.topics_of(query.message.chat.id)
        lang = tapped_language(context, query)
        await query.message.reply_text(t("sub.choose", lang), reply_markup=subscribe_keyboard(context, current, lang))


async def on_subscribe_button(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    topic = query.data.removeprefix("sub:")
    if topic not in subscribable_topics(context) or query.message is None:
        await query.answer()
        return
    if not await _may_change_group(query, context):
        return
    text = await _subscribe(query.message, context, topic, tapped_language(context, query))  # type: ignore[arg-type]
    await query.answer(text[:200])


async def on_topic_toggle(update: Update, context: Context) -> None:
    """A topic in the /subscribe picker: subscribes, or unsubscribes when already subscribed (✅),
    then redraws the picker in place so its ticks always show the chat's subscriptions."""
    query = update.callback_query
    assert query is not None and query.data is not None
    topic = query.data.removeprefix("subt:")
    message = query.message
    if topic not in subscribable_topics(context) or not isinstance(message, Message):
        await query.answer()
        return
    if not await _may_change_group(query, context):
        return
    subscriptions = context.bot_data.subscriptions
    lang = tapped_language(context, query)
    if topic in subscriptions.topics_of(message.chat.id):
        subscriptions.unsubscribe(message.chat.id, topic)
        text = t("sub.off" if message.chat.type == "private" else "sub.off_group", lang, topic=topic_label(topic, lang))
    else:
        text = await _subscribe(message, context, topic, lang)
    await query.answer(text[:200])
    markup = subscribe_keyboard(context, subscriptions.topics_of(message.chat.id), lang)
    if markup != message.reply_markup:
        try:
            await query.edit_message_reply_markup(markup)
        except BadRequest as exc:  # two quick taps: the second edit may change nothing
            if "not modified" not in str(exc).lower():
                raise


async def start_subscription(message: Message, context: Context, topic: str) -> None:
    """Deep link /start sub-<topic>."""
    lang = user_language(context, message.from_user)
    if topic not in subscribable_topics(context):
        await message.reply_text(t("sub.bad_link", lang))
        return
    await message.reply_text(await _subscribe(message, context, topic, lang))


async def on_unsubscribe(update: Update, context: Context) -> None:
    message = update.message
    assert message is not None
    current = context.bot_data.subscriptions.topics_of(message.chat.id)
    lang = user_language(context, message.from_user)
    if not current:
        await message.reply_text(current_text(current, lang))
        return
    rows = [[InlineKeyboardButton(f"🔕 {topic_label(topic, lang)}", callback_data=f"unsub:{topic}")] for topic in current]
    rows.append([InlineKeyboardButton(t("sub.stop_all", lang), callback_data=f"unsub:{ALL_TOPICS}*")])
    await message.reply_text(t("sub.which_stop", lang), reply_markup=InlineKeyboardMarkup(rows))


async def on_unsubscribe_button(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None and query.message is not None
    choice = query.data.removeprefix("unsub:")
    if not await _may_change_group(query, context):
        return
    chat_id = query.message.chat.id
    subscriptions = context.bot_data.subscriptions
    subscriptions.unsubscribe(chat_id, None if choice == f"{ALL_TOPICS}*" else choice)
    lang = tapped_language(context, query)
    await query.answer(t("sub.unsubscribed", lang))
    await query.edit_message_text(current_text(subscriptions.topics_of(chat_id), lang))


async def on_subscriptions(update: Update, context: Context) -> None:
    message = update.message
    assert message is not None
    lang = user_language(context, message.from_user)
    await message.reply_text(current_text(context.bot_data.subscriptions.topics_of(message.chat.id), lang))


async def on_my_chat_member(update: Update, context: Context) -> None:
    """A user who blocks the bot is unsubscribed at once; unblocking does not resubscribe."""
    change = update.my_chat_member
    assert change is not None
    if change.new_chat_member.status in (ChatMember.BANNED, ChatMember.LEFT):
        removed = context.bot_data.subscriptions.unsubscribe(change.chat.id)
        if removed:
            log.info("chat left or blocked the bot; %d subscription(s) removed", removed)
