"""/start (with deep links), /help and /about."""

from __future__ import annotations

from collections import Counter

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.i18n import Lang, t, topic_name
from bot.replies.telegram_view import View, esc, topics_data
from bot.runtime.commands import help_text
from bot.runtime.context import Context
from handlers.ask import send_entry
from handlers.language import user_language
from handlers.subscriptions import start_subscription


def welcome_keyboard(lang: Lang = Lang.EN) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(t("browse_button", lang), callback_data=topics_data())],
            [InlineKeyboardButton(t("updates_button", lang), callback_data="subscribe-menu")],
        ]
    )


async def on_start(update: Update, context: Context) -> None:
    message = update.message
    assert message is not None
    payload = context.args[0] if context.args else ""
    if payload.startswith("sub-"):
        await start_subscription(message, context, payload.removeprefix("sub-"))
        return
    entry = context.bot_data.matcher.base.get(payload) if payload else None
    if entry is not None:  # a group answer's "caveats and sources" link: show it all
        await send_entry(message, context, entry, view=View.FULL)
        return
    lang = user_language(context, message.from_user)
    await message.reply_text(t("welcome_html", lang), reply_markup=welcome_keyboard(lang))


async def on_help(update: Update, context: Context) -> None:
    assert update.message is not None
    user = update.effective_user
    lang = user_language(context, user)
    intro = t("help_intro_html", lang, username=esc(context.bot.username))
    admin = context.bot_data.is_admin(user.id if user else None)
    await update.message.reply_text(intro + esc(help_text(admin, chinese=lang.chinese)))


async def on_about(update: Update, context: Context) -> None:
    assert update.message is not None
    entries = context.bot_data.matcher.base.entries
    lang = user_language(context, update.message.from_user)
    newest = max(e.verified_on for e in entries)
    counts = Counter(e.topic.value for e in entries)
    by_topic = ("、" if lang.chinese else ", ").join(
        t("about.topic_count", lang, n=n, topic=esc(topic_name(topic, lang) if lang.chinese else topic))
        for topic, n in sorted(counts.items())
    )
    text = t("about_html", lang, count=len(entries), by_topic=by_topic, newest=newest.isoformat())
    await update.message.reply_text(text)


async def on_unknown_command(update: Update, context: Context) -> None:
    assert update.message is not None
    await update.message.reply_text(t("unknown_command", user_language(context, update.message.from_user)))
