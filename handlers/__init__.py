"""The Telegram edge: one module per feature; `register` wires them in order."""

from __future__ import annotations

from telegram import Update
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.runtime.access import admin_command
from bot.runtime.context import Context
from bot.runtime.flood import SLOW_DOWN, Verdict
from handlers import (
    admin,
    ask,
    browse,
    changes,
    entry_delete,
    entry_drafts,
    entry_steps,
    errors,
    feedback,
    gaps,
    inline,
    language,
    media,
    privacy,
    reload,
    start,
    subscriptions,
    watch,
)

NEW_MESSAGE = filters.UpdateType.MESSAGE  # edited messages are ignored everywhere


async def _drop_edits(update: Update, context: object) -> None:
    if update.edited_message is not None or update.edited_channel_post is not None:
        raise ApplicationHandlerStop


async def _flood_guard(update: Update, context: Context) -> None:
    """Every update a user sends passes here first: over the limit, one notice, then nothing.
    Maintainers are exempt (a draft takes many quick steps); membership changes are not sent
    by the user and always pass (blocking the bot must unsubscribe)."""
    user = update.effective_user
    if user is None or update.my_chat_member is not None or update.chat_member is not None:
        return
    if context.bot_data.is_admin(user.id):
        return
    verdict = context.bot_data.flood.check(user.id)
    if verdict is Verdict.ALLOW:
        return
    if verdict is Verdict.WARN:
        if update.callback_query is not None:
            await update.callback_query.answer(SLOW_DOWN)
        elif update.message is not None:
            await update.message.reply_text(SLOW_DOWN)
    raise ApplicationHandlerStop


async def on_private_text(update: Update, context: Context) -> None:
    """A maintainer in the middle of a draft (a broadcast, or an entry for /add or /edit) that waits
    for text is answering it; everyone else is asking. At most one draft is open: starting one
    discards the other."""
    is_admin = context.bot_data.is_admin(update.effective_user.id if update.effective_user else None)
    if is_admin and admin.has_open_draft(context):
        await admin.on_draft_input(update, context)
    elif is_admin and entry_steps.has_open_draft(context):
        await entry_drafts.on_draft_input(update, context)
    elif is_admin and gaps.has_open_search(context):
        await gaps.on_search_text(update, context)
    else:
        await ask.on_private_text(update, context)


@admin_command("/cancel")
async def on_cancel(update: Update, context: Context) -> None:
    """/cancel ends whichever draft is open: an entry draft, a search for /gaps, else the broadcast draft."""
    if entry_steps.has_draft(context):
        await entry_drafts.on_cancel(update, context)
    elif gaps.has_open_search(context):
        await gaps.on_cancel(update, context)
    else:
        await admin.on_cancel(update, context)


def register(application: Application) -> None:  # type: ignore[type-arg]
    """Every handler, in order. Order matters: PTB runs the first match per group."""
    # Group -2 runs before everything: a user over the flood limit reaches nothing else.
    application.add_handler(TypeHandler(Update, _flood_guard), group=-2)
    # Group -1: an edited message never reaches a handler.
    application.add_handler(TypeHandler(Update, _drop_edits), group=-1)

    # Commands (private and groups; groups accept /cmd@botname).
    application.add_handler(CommandHandler("start", start.on_start, filters=NEW_MESSAGE))
    application.add_handler(CommandHandler("help", start.on_help, filters=NEW_MESSAGE))
    application.add_handler(CommandHandler("about", start.on_about, filters=NEW_MESSAGE))
    application.add_handler(CommandHandler("topics", browse.on_topics, filters=NEW_MESSAGE))
    application.add_handler(CommandHandler("ask", ask.on_ask_command, filters=NEW_MESSAGE))
    application.add_handler(CommandHandler("subscribe", subscriptions.on_subscribe, filters=NEW_MESSAGE))
    application.add_handler(CommandHandler("unsubscribe", subscriptions.on_unsubscribe, filters=NEW_MESSAGE))
    application.add_handler(CommandHandler("subscriptions", subscriptions.on_subscriptions, filters=NEW_MESSAGE))
    # Privacy: anyone. /forget deletes only in a private chat (a group's subscriptions are the group's).
    application.add_handler(CommandHandler("privacy", privacy.on_privacy, filters=NEW_MESSAGE))
    application.add_handler(CommandHandler("forget", privacy.on_forget, filters=NEW_MESSAGE))
    # Reply language: stored per user, only in a private chat (a group is many users).
    application.add_handler(CommandHandler("language", language.on_language, filters=NEW_MESSAGE & filters.ChatType.PRIVATE))
    # 👁 Watches: listed and removed in a private chat (handlers/watch.py says why).
    application.add_handler(CommandHandler("watching", watch.on_watching, filters=NEW_MESSAGE))

    # Maintainers' commands: each handler is an @admin_command (bot/runtime/access.py): it refuses (and
    # logs) anyone not in VISABOT_ADMIN_IDS, and works only in a private chat.
    application.add_handler(CommandHandler("broadcast", admin.on_broadcast, filters=NEW_MESSAGE))
    application.add_handler(CommandHandler("broadcasts", admin.on_broadcasts, filters=NEW_MESSAGE))
    application.add_handler(CommandHandler("stats", admin.on_stats, filters=NEW_MESSAGE))
    application.add_handler(CommandHandler("skip", admin.on_skip, filters=NEW_MESSAGE))
    # Knowledge-base upkeep: entry drafts, unanswered questions, 👎, reload.
    application.add_handler(CommandHandler("add", entry_drafts.on_add, filters=NEW_MESSAGE))
    application.add_handler(CommandHandler("edit", entry_drafts.on_edit, filters=NEW_MESSAGE))
    application.add_handler(CommandHandler("delete", entry_delete.on_delete, filters=NEW_MESSAGE))
    application.add_handler(CommandHandler("gaps", gaps.on_gaps, filters=NEW_MESSAGE))
    application.add_handler(CommandHandler("feedback", feedback.on_feedback, filters=NEW_MESSAGE))
    application.add_handler(CommandHandler("reload", reload.on_reload, filters=NEW_MESSAGE))
    # The source watch's review queue (handlers/changes.py).
    application.add_handler(CommandHandler("changes", changes.on_changes, filters=NEW_MESSAGE))
    application.add_handler(CommandHandler("cancel", on_cancel, filters=NEW_MESSAGE))

    # Buttons.
    application.add_handler(CallbackQueryHandler(browse.on_topics_callback, pattern=r"^t(:|$)"))
    application.add_handler(CallbackQueryHandler(browse.on_show_entry, pattern=r"^a:"))
    application.add_handler(CallbackQueryHandler(ask.on_expand, pattern=r"^x:[a-z0-9-]+:[scrfh]$"))
    application.add_handler(CallbackQueryHandler(language.on_language_button, pattern=r"^lang:(auto|en|zh)$"))
    application.add_handler(CallbackQueryHandler(browse.on_vote, pattern=r"^v:[a-z0-9-]+:[01]$"))
    application.add_handler(CallbackQueryHandler(watch.on_watch_button, pattern=r"^w:[a-z0-9-]+$"))
    application.add_handler(CallbackQueryHandler(watch.on_unwatch_button, pattern=r"^wu:[a-z0-9-]+$"))
    application.add_handler(CallbackQueryHandler(subscriptions.on_subscribe_menu_button, pattern=r"^subscribe-menu$"))
    application.add_handler(CallbackQueryHandler(subscriptions.on_subscribe_button, pattern=r"^sub:"))
    application.add_handler(CallbackQueryHandler(subscriptions.on_topic_toggle, pattern=r"^subt:"))
    application.add_handler(CallbackQueryHandler(subscriptions.on_unsubscribe_button, pattern=r"^unsub:"))
    application.add_handler(CallbackQueryHandler(admin.on_topic_button, pattern=r"^bt:"))
    application.add_handler(CallbackQueryHandler(admin.on_send, pattern=r"^bs:\d+$"))
    application.add_handler(CallbackQueryHandler(admin.on_add_chinese, pattern=r"^bz$"))
    # "bl:ID" links (or unlinks) a found entry under the broadcast; "bl:" is Done.
    application.add_handler(CallbackQueryHandler(admin.on_link_button, pattern=r"^bl:[a-z0-9-]*$"))
    application.add_handler(CallbackQueryHandler(admin.on_cancel, pattern=r"^bx$"))
    # Entry drafts: "et:" topic, "es:" status, "ev:" save, "ex:" cancel (each carries the draft's nonce).
    application.add_handler(CallbackQueryHandler(entry_drafts.on_topic_button, pattern=r"^et:"))
    application.add_handler(CallbackQueryHandler(entry_drafts.on_status_button, pattern=r"^es:"))
    # ew: save despite warnings; ey: save, every source re-checked today (moves verified_on).
    application.add_handler(CallbackQueryHandler(entry_drafts.on_save, pattern=r"^e[vwy]:"))
    application.add_handler(CallbackQueryHandler(entry_drafts.on_cancel_button, pattern=r"^ex:"))
    # /edit: "ea:" only add alternates (with the nonce); "ee:ID" (its search) and "fe:ID" (/feedback) open an entry.
    application.add_handler(CallbackQueryHandler(entry_drafts.on_more_alternates_button, pattern=r"^ea:"))
    application.add_handler(CallbackQueryHandler(entry_drafts.on_edit_button, pattern=r"^(ee|fe):[a-z0-9-]+$"))
    # /delete: "ed:ID" confirms, "edx" cancels.
    application.add_handler(CallbackQueryHandler(entry_delete.on_delete_button, pattern=r"^(ed:[a-z0-9-]+|edx)$"))
    # /gaps, one message: "gp:" a page, "go:" open a group, "gn:" add entry, "ga:" attach (closest),
    # "gs:" attach (search by words), "gt:" attach to, "gx:" dismiss, "gb:" back to the group.
    application.add_handler(CallbackQueryHandler(gaps.on_gap_button, pattern=r"^g[ponastxb]:"))
    # /changes: "cv:ID" mark verified, "ce:ID" edit.
    application.add_handler(CallbackQueryHandler(changes.on_mark_verified, pattern=r"^cv:[a-z0-9-]+$"))
    application.add_handler(CallbackQueryHandler(changes.on_edit_button, pattern=r"^ce:[a-z0-9-]+$"))

    # Blocking the bot (my_chat_member → kicked) unsubscribes at once.
    application.add_handler(ChatMemberHandler(subscriptions.on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER))

    # Inline mode.
    application.add_handler(InlineQueryHandler(inline.on_inline_query))

    # Private chat: any other text is a question; unknown commands get a pointer to /help.
    private = filters.ChatType.PRIVATE & NEW_MESSAGE
    application.add_handler(MessageHandler(private & filters.COMMAND, start.on_unknown_command))
    application.add_handler(MessageHandler(private & filters.TEXT, on_private_text))
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
