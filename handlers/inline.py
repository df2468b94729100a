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

from bot.context import Context
from bot.telegram_render import entry_view_messages, group_answer_keyboard, shorten
from knowledge.model import Entry

MAX_RESULTS = 10
CACHE_SECONDS = 300


def _article(entry: Entry, bot_username: str) -> InlineQueryResultArticle:
    """The short form, as in groups: the caveats and sources open in a private chat."""
    return InlineQueryResultArticle(
        id=entry.id,
        title=entry.question,
        description=shorten(entry.answer, 100),
        input_message_content=InputTextMessageContent(
            entry_view_messages(entry)[0],
            parse_mode=ParseMode.HTML,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        ),
        reply_markup=group_answer_keyboard(entry, bot_username),
    )


async def on_inline_query(update: Update, context: Context) -> None:
    query = update.inline_query
    assert query is not None
    kb = context.bot_data.kb
    text = query.query.strip()
    if text:
        near = kb.model.thresholds.offer * 100
        entries = [c.entry for c in kb.ranked(text, MAX_RESULTS) if c.score >= near]
    else:
        popular = [kb.base.get(i) for i in context.bot_data.db.most_asked(MAX_RESULTS)]
        entries = [e for e in popular if e is not None]
        entries += [e for e in kb.base.entries if e not in entries][: MAX_RESULTS - len(entries)]
    button = InlineQueryResultsButton(text="Ask me in a private chat", start_parameter="inline")
    await query.answer(
        [_article(e, context.bot.username) for e in entries[:MAX_RESULTS]], cache_time=CACHE_SECONDS, button=button
    )
