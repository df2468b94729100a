"""Maintainers' broadcast flow in Telegram: /broadcast, /broadcasts, /stats.

/broadcast → pick topic(s) → send the text (Telegram HTML, checked before anything is sent) →
link entries or /skip → a preview exactly as subscribers will see it, with the recipient count
→ Send / Cancel, or "Add Chinese text": the same update in simplified Chinese for subscribers
whose /language is 中文 (everyone else, and everyone when there is none, gets the English), then
a preview of both. The draft lives in user_data; Send's callback carries the preview's id, which
is the broadcast's idempotency key, so a double tap sends once.

callback_data: "bt:<topic>" toggle · "bt:next" · "bs:<preview-message-id>" send · "bz" add
Chinese text · "bx" cancel.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot.delivery.broadcast import MAX_BODY_CHARS, broadcast_markup, framed_html
from bot.delivery.jobs import progress_text
from bot.delivery.outbox import Broadcast
from bot.i18n import Lang, Preference, topic_label
from bot.replies.html_check import validate_telegram_html, visible_length, visible_text
from bot.replies.telegram_view import esc, shorten
from bot.runtime import drafts
from bot.runtime.access import admin_command, admin_only
from bot.runtime.context import Context
from handlers.subscriptions import subscribable_topics
from knowledge.authoring import find_entries
from knowledge.bilingual import texts_differ

log = logging.getLogger(__name__)

LINK_CHOICES = 6  # entries offered per search when linking entries under a broadcast


@dataclass
class Draft:
    stage: str = "topics"  # topics → text → entries → preview (→ text_zh → preview)
    topics: list[str] = field(default_factory=list)
    html: str = ""
    html_zh: str = ""
    entry_ids: list[str] = field(default_factory=list)
    found: list[str] = field(default_factory=list)  # the last entry search's results (step 3)


def _draft(context: Context) -> Draft | None:
    return drafts.current(context, Draft)


def has_open_draft(context: Context) -> bool:
    draft = _draft(context)
    return draft is not None and draft.stage in ("text", "entries", "text_zh")


def _topics_keyboard(context: Context, chosen: list[str]) -> InlineKeyboardMarkup:
    rows = [
        [InlineKeyboardButton(("✅ " if t in chosen else "▫️ ") + topic_label(t, Lang.EN), callback_data=f"bt:{t}")]
        for t in subscribable_topics(context)
    ]
    rows.append([InlineKeyboardButton("Next ➡", callback_data="bt:next"), InlineKeyboardButton("Cancel", callback_data="bx")])
    return InlineKeyboardMarkup(rows)


@admin_command("/broadcast")
async def on_broadcast(update: Update, context: Context) -> None:
    assert update.message is not None
    drafts.start(context, Draft())  # an open entry draft is discarded: one draft at a time
    await update.message.reply_text(
        "📣 <b>New broadcast</b>\nStep 1 of 3: who should get it?", reply_markup=_topics_keyboard(context, [])
    )


@admin_only("broadcast topics")
async def on_topic_button(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    draft = _draft(context)
    if draft is None or draft.stage != "topics":
        await query.answer("This draft is closed. Start again with /broadcast.")
        return
    choice = query.data.removeprefix("bt:")
    if choice == "next":
        if not draft.topics:
            await query.answer("Pick at least one topic.", show_alert=True)
            return
        draft.stage = "text"
        await query.answer()
        await query.edit_message_text(
            "Step 2 of 3: send the message text. Telegram HTML is allowed "
            "(&lt;b&gt;, &lt;i&gt;, &lt;a href&gt;…). /cancel stops."
        )
        return
    if choice in subscribable_topics(context):
        draft.topics = [t for t in draft.topics if t != choice] if choice in draft.topics else [*draft.topics, choice]
    await query.answer()
    await query.edit_message_reply_markup(_topics_keyboard(context, draft.topics))


async def on_draft_input(update: Update, context: Context) -> None:
    """Text from an admin while a draft waits for its message or its entry ids."""
    message = update.message
    draft = _draft(context)
    assert message is not None and message.text is not None and draft is not None
    if draft.stage in ("text", "text_zh"):
        html = message.text.strip()
        problems = validate_telegram_html(html)
        if visible_length(html) > MAX_BODY_CHARS:
            problems.append(f"longer than {MAX_BODY_CHARS:,} characters (the rest is kept for the header and footer)")
        if draft.stage == "text_zh" and not problems:
            difference = texts_differ(visible_text(draft.html), visible_text(html))
            problems += [f"{difference}: the two texts must state the same facts"] if difference else []
        if problems:
            reasons = "\n".join(f"• {esc(p)}" for p in problems[:5])
            await message.reply_text(f"❌ I can't send that, nothing was sent:\n{reasons}\nPlease send a corrected text.")
            return
        if draft.stage == "text_zh":
            draft.html_zh = html
            await _preview(message, context, draft)
            return
        draft.html, draft.stage = html, "entries"
        await message.reply_text(
            "Step 3 of 3: link knowledge-base entries under the message? Send words to search for them "
            "(e.g. <code>100k one time</code>) or their ids (e.g. <code>h1b-100k-one-time</code>), or /skip."
        )
        return
    base = context.bot_data.matcher.base
    ids = message.text.split()
    if all(base.get(i) is not None for i in ids):
        draft.entry_ids = ids
        await _preview(message, context, draft)
        return
    # Not all ids: the words are a search, and the entries found are offered as buttons.
    draft.found = [e.id for e in find_entries(context.bot_data.matcher, message.text, LINK_CHOICES)]
    if not draft.found:
        await message.reply_text("No entry matches those words. Try other words or ids, or /skip.")
        return
    await message.reply_text(
        "Tap the entries to link under the message (✅ = linked), then Done. Other words search again.",
        reply_markup=_link_keyboard(context, draft),
    )


def _link_keyboard(context: Context, draft: Draft) -> InlineKeyboardMarkup:
    base = context.bot_data.matcher.base
    rows = [
        [InlineKeyboardButton(("✅ " if i in draft.entry_ids else "➕ ") + shorten(entry.question, 56), callback_data=f"bl:{i}")]
        for i in draft.found if (entry := base.get(i)) is not None
    ]
    rows.append([InlineKeyboardButton(f"Done ▶ ({len(draft.entry_ids)} linked)", callback_data="bl:")])
    return InlineKeyboardMarkup(rows)


@admin_only("broadcast entry links")
async def on_link_button(update: Update, context: Context) -> None:
    """A found entry toggles its link under the broadcast; "Done" goes to the preview."""
    query = update.callback_query
    assert query is not None and query.data is not None
    draft = _draft(context)
    if draft is None or draft.stage != "entries" or not isinstance(query.message, Message):
        await query.answer("This draft is closed. Start again with /broadcast.")
        return
    entry_id = query.data.removeprefix("bl:")
    await query.answer()
    if not entry_id:
        await query.edit_message_reply_markup(None)
        await _preview(query.message, context, draft)
        return
    if entry_id in draft.found:
        draft.entry_ids = [i for i in draft.entry_ids if i != entry_id] if entry_id in draft.entry_ids else [*draft.entry_ids, entry_id]
    await query.edit_message_reply_markup(_link_keyboard(context, draft))


@admin_command("/skip")
async def on_skip(update: Update, context: Context) -> None:
    draft = _draft(context)
    if draft is None or draft.stage != "entries":
        return
    assert update.message is not None
    await _preview(update.message, context, draft)


async def _preview(message: Message, context: Context, draft: Draft) -> None:
    """The message as subscribers will see it (in each language it has), then Send / Cancel."""
    texts = [(draft.html, Lang.EN, "text")] + ([(draft.html_zh, Lang.ZH, "text_zh")] if draft.html_zh else [])
    previews: list[int] = []
    for html, lang, stage in texts:
        try:
            preview = await message.reply_text(
                framed_html(html, draft.topics, dt.date.today(), lang),
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                reply_markup=broadcast_markup(context.bot_data.matcher.base, draft.entry_ids, lang),
            )
        except BadRequest as exc:  # Telegram's own parser has the last word on the markup
            draft.stage = stage
            await message.reply_text(f"❌ Telegram refused the text: {esc(exc.message)}\nPlease send a corrected text.")
            return
        previews.append(preview.message_id)
    draft.stage = "preview"
    recipients = context.bot_data.subscriptions.recipients(draft.topics)
    names = ", ".join(topic_label(t, Lang.EN) for t in draft.topics)
    # The English preview's id is the idempotency key, as before there was a Chinese one.
    rows = [[InlineKeyboardButton(f"✅ Send to {len(recipients)}", callback_data=f"bs:{previews[0]}"),
             InlineKeyboardButton("Cancel", callback_data="bx")]]
    summary = f"☝️ This is the preview. Topics: {esc(names)}. Recipients now: <b>{len(recipients)}</b>."
    if draft.html_zh:
        readers = len(context.bot_data.db.users_choosing(Preference.ZH.value).intersection(recipients))
        summary += f" In Chinese (their /language is 中文): <b>{readers}</b>."
    else:
        rows.append([InlineKeyboardButton("➕ Add Chinese text (中文)", callback_data="bz")])
    await message.reply_text(summary, reply_markup=InlineKeyboardMarkup(rows))


@admin_only("add Chinese text to a broadcast")
async def on_add_chinese(update: Update, context: Context) -> None:
    """The preview's "Add Chinese text": the next text from the admin is the Chinese version."""
    query = update.callback_query
    assert query is not None
    draft = _draft(context)
    if draft is None or draft.stage != "preview":
        await query.answer("This draft is closed. Start again with /broadcast.")
        return
    draft.stage = "text_zh"
    await query.answer()
    await query.edit_message_reply_markup(None)  # this summary's Send would skip the Chinese
    assert isinstance(query.message, Message)
    await query.message.reply_text(
        "Send the same message in simplified Chinese (Telegram HTML). Subscribers whose /language is "
        "中文 get it; everyone else gets the English. /cancel stops."
    )


@admin_only("broadcast send")
async def on_send(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None and isinstance(query.message, Message)
    key = f"tg:{query.message.chat.id}:{query.data.removeprefix('bs:')}"
    broadcast: Broadcast | None
    draft = _draft(context)
    data = context.bot_data
    if draft is not None and draft.stage == "preview":
        recipients = data.subscriptions.recipients(draft.topics)
        broadcast, created = data.outbox.create(
            key, topics=draft.topics, html=draft.html, recipients=recipients, entry_ids=draft.entry_ids,
            paid=bool(data.settings and data.settings.paid_broadcast), created_by=query.from_user.id,
            html_zh=draft.html_zh or None,
        )
        drafts.drop(context, Draft)
    else:  # a second tap after the draft was sent: the key finds the same broadcast
        broadcast, created = data.outbox.by_key(key), False
    if broadcast is None:
        await query.answer("This draft is closed. Start again with /broadcast.")
        return
    await query.answer("Sending…" if created else "Already sent: this broadcast exists.")
    if not created:
        return
    await query.edit_message_reply_markup(None)
    status = await query.message.reply_text(progress_text(broadcast, data.outbox.progress(broadcast.id), None, False))
    data.outbox.set_progress_message(broadcast.id, status.chat.id, status.message_id)
    assert data.jobs is not None
    data.jobs.start(broadcast.id)


@admin_only("cancel a broadcast draft")
async def on_cancel(update: Update, context: Context) -> None:
    # Only a maintainer has a broadcast draft: a forged "bx" button from anyone else edits nothing.
    drafts.drop(context, Draft)
    if update.callback_query:
        await update.callback_query.answer("Cancelled.")
        await update.callback_query.edit_message_text("Broadcast cancelled; nothing was sent.")
    elif update.message:
        await update.message.reply_text("Cancelled; nothing was sent.")


@admin_command("/broadcasts")
async def on_broadcasts(update: Update, context: Context) -> None:
    assert update.message is not None
    outbox = context.bot_data.outbox
    recent = outbox.recent(10)
    if not recent:
        await update.message.reply_text("No broadcasts yet.")
        return
    lines = [progress_text(b, outbox.progress(b.id), None, b.status == "done") for b in recent]
    await update.message.reply_text("\n\n".join(lines))


@admin_command("/stats")
async def on_stats(update: Update, context: Context) -> None:
    assert update.message is not None
    subs = context.bot_data.subscriptions
    counts = subs.counts()
    lines = [f"{esc(topic_label(t, Lang.EN))}: {n}" for t, n in counts.items()] or ["no subscribers yet"]
    await update.message.reply_text(
        "<b>Subscribers per topic</b>\n" + "\n".join(lines) + f"\nChats with any subscription: {subs.total_chats()}"
    )
