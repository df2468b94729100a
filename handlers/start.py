"""/start (with deep links), /help and /about."""

from __future__ import annotations

from collections import Counter

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.commands import help_text
from bot.context import Context
from bot.i18n import Lang, t
from bot.telegram_render import View, esc, topics_data
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
    entry = context.bot_data.kb.base.get(payload) if payload else None
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
    entries = context.bot_data.kb.base.entries
    newest = max(e.verified_on for e in entries)
    counts = Counter(e.topic.value for e in entries)
    by_topic = ", ".join(f"{n} {esc(t)}" for t, n in sorted(counts.items()))
    text = (
        "<b>About visabot</b>\n\n"
        f"{len(entries)} curated entries ({by_topic}) on China's K visa and the US H-1B. "
        "Each answer cites its sources with publisher and date, states its caveats, and says what is "
        "unknown; official sources are preferred, and unofficial figures are labelled as such.\n\n"
        f"Newest verification: {newest.isoformat()}. Policy moves fast: check the as-of date on each answer.\n\n"
        "<b>Found an error?</b> Tap 👎 under the answer; maintainers review every 👎 and the "
        "questions I could not answer.\n\n<i>Sourced information, not legal advice.</i>"
    )
    await update.message.reply_text(text)


async def on_unknown_command(update: Update, context: Context) -> None:
    assert update.message is not None
    await update.message.reply_text("I don't know that command. See /help, or just type your question.")
