"""/language: English, 中文, or auto (follow each question's script). Stored per user; /forget deletes it."""

from __future__ import annotations

from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
    User,
)

from bot.i18n import Lang, Preference, choose, t
from bot.runtime.context import Context

CHOICE_LABELS = {Preference.EN: "English", Preference.ZH: "中文（简体）"}


def user_language(context: Context, user: User | None) -> Lang:
    """The language of a reply with no question to go by (/start, /subscribe, /privacy, a
    button's toast): the user's /language choice, else their Telegram app's language."""
    stored = context.bot_data.db.language(user.id) if user is not None else None
    return choose(stored, "", user.language_code if user is not None else None)


def tapped_language(context: Context, query: CallbackQuery) -> Lang:
    """The language of a reply to a button: the user's /language choice, else the language of the
    message the button is under (a Chinese answer's buttons answer in Chinese)."""
    message = query.message
    shown = (message.text or "") if isinstance(message, Message) else ""
    return choose(context.bot_data.db.language(query.from_user.id), shown, query.from_user.language_code)


def _keyboard(current: str | None, lang: Lang) -> InlineKeyboardMarkup:
    """One button per choice, the current one ticked, so the state is visible."""
    options = [(Preference.AUTO, t("language.auto", lang)), *CHOICE_LABELS.items()]
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(("✅ " if (current or Preference.AUTO) == choice else "") + label, callback_data=f"lang:{choice.value}")]
            for choice, label in options
        ]
    )


def _shown_in(current: str | None) -> Lang:
    return Lang.ZH if current == Preference.ZH else Lang.EN


async def on_language(update: Update, context: Context) -> None:
    message, user = update.message, update.effective_user
    assert message is not None and user is not None
    current = context.bot_data.db.language(user.id)
    await message.reply_text(t("language.ask", _shown_in(current)), reply_markup=_keyboard(current, _shown_in(current)))


async def on_language_button(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    choice = Preference(query.data.removeprefix("lang:"))
    stored = None if choice is Preference.AUTO else choice.value
    context.bot_data.db.set_language(query.from_user.id, stored)  # the user asked for this write
    lang = _shown_in(stored)
    label = t("language.auto", lang) if choice is Preference.AUTO else CHOICE_LABELS[choice]
    await query.answer(t("language.set", lang, choice=label))
    await query.edit_message_text(t("language.ask", lang), reply_markup=_keyboard(stored, lang))
