"""Inline mode: `@bot <query>` offers up to 10 entries rendered like the chat answer."""

from __future__ import annotations

from telegram import (
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ParseMode

from bot.i18n import EntryText, Lang, choose, entry_text, t
from bot.replies.telegram_view import entry_view_messages, group_answer_keyboard, shorten
from bot.runtime.context import Context
from knowledge.model import Entry

MAX_RESULTS = 10
CACHE_SECONDS = 300


def _article(entry: Entry, bot_username: str, shown: EntryText, lang: Lang) -> InlineQueryResultArticle:
    """The short form, as in groups: the caveats and sources open in a private chat."""
    return InlineQueryResultArticle(
        id=entry.id,
        title=shown.question,
        description=shorten(shown.answer, 100),
        input_message_content=InputTextMessageContent(
            entry_view_messages(entry, text=shown)[0],
            parse_mode=ParseMode.HTML,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        ),
        reply_markup=group_answer_keyboard(entry, bot_username, lang),
    )


async def on_inline_query(update: Update, context: Context) -> None:
    query = update.inline_query
    assert query is not None
    kb = context.bot_data.matcher
    text = query.query.strip()
    if text:
        near = kb.model.thresholds.offer * 100
        entries = [c.entry for c in kb.ranked(text, MAX_RESULTS) if c.score >= near]
    else:
        popular = [kb.base.get(i) for i in context.bot_data.db.most_asked(MAX_RESULTS)]
        entries = [e for e in popular if e is not None]
        entries += [e for e in kb.base.entries if e not in entries][: MAX_RESULTS - len(entries)]
    user = query.from_user
    lang = choose(context.bot_data.db.language(user.id), text, user.language_code)
    button = InlineQueryResultsButton(text=t("inline_button", lang), start_parameter="inline")
    chinese = kb.base.chinese
    articles = [_article(e, context.bot.username, entry_text(e, lang, chinese), lang) for e in entries[:MAX_RESULTS]]
    await query.answer(articles, cache_time=CACHE_SECONDS, button=button, is_personal=True)
