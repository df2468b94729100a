"""The Telegram edge: one module per feature; `register` wires them in order."""

from __future__ import annotations

from telegram import Update
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from handlers import ask, browse, errors, inline, media, start

NEW_MESSAGE = filters.UpdateType.MESSAGE  # edited messages are ignored everywhere


async def _drop_edits(update: Update, context: object) -> None:
    if update.edited_message is not None or update.edited_channel_post is not None:
        raise ApplicationHandlerStop


def register(application: Application) -> None:  # type: ignore[type-arg]
    """Every handler, in order. Order matters: PTB runs the first match per group."""
    # Group -1 runs before everything: an edited message never reaches a handler.
    application.add_handler(TypeHandler(Update, _drop_edits), group=-1)

    # Commands (private and groups; groups accept /cmd@botname).
    application.add_handler(CommandHandler("start", start.on_start, filters=NEW_MESSAGE))
    application.add_handler(CommandHandler("help", start.on_help, filters=NEW_MESSAGE))
    application.add_handler(CommandHandler("about", start.on_about, filters=NEW_MESSAGE))
    application.add_handler(CommandHandler("topics", browse.on_topics, filters=NEW_MESSAGE))
    application.add_handler(CommandHandler("ask", ask.on_ask_command, filters=NEW_MESSAGE))

    # Buttons.
    application.add_handler(CallbackQueryHandler(browse.on_topics_callback, pattern=r"^t(:|$)"))
    application.add_handler(CallbackQueryHandler(browse.on_show_entry, pattern=r"^a:"))
    application.add_handler(CallbackQueryHandler(browse.on_vote, pattern=r"^v:[a-z0-9-]+:[01]$"))

    # Inline mode.
    application.add_handler(InlineQueryHandler(inline.on_inline_query))

    # Private chat: any other text is a question; unknown commands get a pointer to /help.
    private = filters.ChatType.PRIVATE & NEW_MESSAGE
    application.add_handler(MessageHandler(private & filters.COMMAND, start.on_unknown_command))
    application.add_handler(MessageHandler(private & filters.TEXT, ask.on_private_text))
    application.add_handler(
        MessageHandler(
            private & (filters.Sticker.ALL | filters.PHOTO | filters.VOICE | filters.AUDIO | filters.Document.ALL | filters.VIDEO | filters.VIDEO_NOTE),
            media.on_media,
        )
    )

    # Groups: only a mention of the bot or a reply to it; other chatter is ignored (catch-alls last).
    group_text = filters.ChatType.GROUPS & NEW_MESSAGE & filters.TEXT & ~filters.COMMAND
    application.add_handler(MessageHandler(group_text & filters.Entity("mention"), ask.on_group_mention))
    application.add_handler(MessageHandler(group_text & filters.REPLY, ask.on_group_reply))

    application.add_error_handler(errors.on_error)
