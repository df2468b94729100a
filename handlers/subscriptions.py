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

from bot.context import Context
from bot.i18n import choose, t
from bot.subscriptions import ALL_TOPICS
from bot.telegram_render import TOPIC_LABELS
from knowledge.model import Topic

log = logging.getLogger(__name__)
ALL_LABEL = "📬 Everything"


def topic_label(topic: str) -> str:
    return ALL_LABEL if topic == ALL_TOPICS else TOPIC_LABELS[Topic(topic)]


def subscribable_topics(context: Context) -> list[str]:
    """The topics the knowledge base has entries for, plus "all"."""
    present = {e.topic for e in context.bot_data.kb.base.entries}
    return [t.value for t in Topic if t in present] + [ALL_TOPICS]


def subscribe_keyboard(context: Context, current: list[str]) -> InlineKeyboardMarkup:
    rows = [
        [InlineKeyboardButton(("✅ " if topic in current else "") + topic_label(topic), callback_data=f"subt:{topic}")]
        for topic in subscribable_topics(context)
    ]
    return InlineKeyboardMarkup(rows)


def current_text(topics: list[str]) -> str:
    if not topics:
        return "You have no subscriptions. Use /subscribe to get policy updates."
    names = ", ".join(topic_label(t) for t in topics)
    return f"🔔 You get policy updates on: {names}.\nUse /unsubscribe to stop."


GROUP_ADMINS_ONLY = "Only this group's administrators can change the group's subscriptions."
GROUP_CHECK_FAILED = "I could not check that you are an administrator of this group. Please try again."


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
        await query.answer(GROUP_CHECK_FAILED, show_alert=True)
        return False
    if member.status in (ChatMember.ADMINISTRATOR, ChatMember.OWNER):
        return True
    await query.answer(GROUP_ADMINS_ONLY, show_alert=True)
    return False


async def _subscribe(message: Message, context: Context, topic: str) -> str:
    added = context.bot_data.subscriptions.subscribe(message.chat.id, [topic])
    what = topic_label(topic)
    if message.chat.type != "private":
        if added:
            return f"🔔 This group is now subscribed to {what}: the group gets a message when the official position changes."
        return f"This group is already subscribed to {what}."
    if added:
        return f"🔔 Subscribed to {what}. You will get a message when the official position changes."
    return f"You are already subscribed to {what}."


CHOOSE_TOPICS = "Choose the topics you want policy updates on (one message per change, never spam):"


async def on_subscribe(update: Update, context: Context) -> None:
    message = update.message
    assert message is not None
    current = context.bot_data.subscriptions.topics_of(message.chat.id)
    await message.reply_text(CHOOSE_TOPICS, reply_markup=subscribe_keyboard(context, current))


async def on_subscribe_menu_button(update: Update, context: Context) -> None:
    """The welcome message's "Get policy updates" button opens the same topic choice."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    if isinstance(query.message, Message):  # not an old, inaccessible message
        current = context.bot_data.subscriptions.topics_of(query.message.chat.id)
        await query.message.reply_text(CHOOSE_TOPICS, reply_markup=subscribe_keyboard(context, current))


async def on_subscribe_button(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    topic = query.data.removeprefix("sub:")
    if topic not in subscribable_topics(context) or query.message is None:
        await query.answer()
        return
    if not await _may_change_group(query, context):
        return
    text = await _subscribe(query.message, context, topic)  # type: ignore[arg-type]
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
    if topic in subscriptions.topics_of(message.chat.id):
        subscriptions.unsubscribe(message.chat.id, topic)
        user = query.from_user
        lang = choose(context.bot_data.db.language(user.id), "", user.language_code)
        text = t("sub.off" if message.chat.type == "private" else "sub.off_group", lang, topic=topic_label(topic))
    else:
        text = await _subscribe(message, context, topic)
    await query.answer(text[:200])
    markup = subscribe_keyboard(context, subscriptions.topics_of(message.chat.id))
    if markup != message.reply_markup:
        try:
            await query.edit_message_reply_markup(markup)
        except BadRequest as exc:  # two quick taps: the second edit may change nothing
            if "not modified" not in str(exc).lower():
                raise


async def start_subscription(message: Message, context: Context, topic: str) -> None:
    """Deep link /start sub-<topic>."""
    if topic not in subscribable_topics(context):
        await message.reply_text("That subscription link is not valid. Use /subscribe to choose topics.")
        return
    await message.reply_text(await _subscribe(message, context, topic))


async def on_unsubscribe(update: Update, context: Context) -> None:
    message = update.message
    assert message is not None
    current = context.bot_data.subscriptions.topics_of(message.chat.id)
    if not current:
        await message.reply_text(current_text(current))
        return
    rows = [[InlineKeyboardButton(f"🔕 {topic_label(t)}", callback_data=f"unsub:{t}")] for t in current]
    rows.append([InlineKeyboardButton("🔕 Stop all updates", callback_data=f"unsub:{ALL_TOPICS}*")])
    await message.reply_text("Which updates should stop?", reply_markup=InlineKeyboardMarkup(rows))


async def on_unsubscribe_button(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None and query.message is not None
    choice = query.data.removeprefix("unsub:")
    if not await _may_change_group(query, context):
        return
    chat_id = query.message.chat.id
    subscriptions = context.bot_data.subscriptions
    subscriptions.unsubscribe(chat_id, None if choice == f"{ALL_TOPICS}*" else choice)
    await query.answer("Unsubscribed.")
    await query.edit_message_text(current_text(subscriptions.topics_of(chat_id)))


async def on_subscriptions(update: Update, context: Context) -> None:
    message = update.message
    assert message is not None
    await message.reply_text(current_text(context.bot_data.subscriptions.topics_of(message.chat.id)))


async def on_my_chat_member(update: Update, context: Context) -> None:
    """A user who blocks the bot is unsubscribed at once; unblocking does not resubscribe."""
    change = update.my_chat_member
    assert change is not None
    if change.new_chat_member.status in (ChatMember.BANNED, ChatMember.LEFT):
        removed = context.bot_data.subscriptions.unsubscribe(change.chat.id)
        if removed:
            log.info("chat left or blocked the bot; %d subscription(s) removed", removed)
