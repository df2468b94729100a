"""Entry drafts in Telegram: /add and /edit, the maintainers' entry wizard (steps: entry_steps.py).

/add: question → alternates → answer → caveats → sources → topic (buttons) → status (buttons) →
中文 question → 中文 answer → 中文 caveats (those not shared) → a preview exactly as users will
see it, in both languages → Save / Cancel. The Chinese may wait ("later"), but Save publishes
both languages or nothing: without it Save says why and takes the maintainer back to the Chinese
steps. /edit ID walks the same steps showing the current values; "keep" keeps one (a Chinese one
only while the English it translates is unchanged); "➕ Only add alternates" skips to a step of its own that adds
phrasings and goes to the preview. /edit words… finds the entry when the id is not at hand.
What each answer becomes (and the defaults) is decided by knowledge/authoring.py, which
`visabot kb add` uses too. The draft is an EntryDraft in the maintainer's draft slot
(bot/runtime/drafts.py; no ConversationHandler: updates run concurrently); text from a maintainer whose
draft waits for text is routed here by handlers.on_private_text. Save goes through
knowledge/saves.py: validated, locked, atomic, and served at once.

callback_data (≤ 64 bytes; ids and keys only, never user text); <n> is the draft's nonce, so a
button of a finished or cancelled draft does nothing:
  "et:<n>:<topic>" topic · "es:<n>:<status>" status · "ev:<n>" save · "ew:<n>" save despite
  warnings · "ex:<n>" cancel · "ea:<n>" /edit: only add alternates · "ee:<entry-id>" and
  "fe:<entry-id>" (/feedback) open that entry in /edit
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re

from pydantic import ValidationError
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update

from bot.i18n import Lang, entry_text
from bot.replies.telegram_view import (
    STATUS_BADGES,
    TOPIC_LABELS,
    View,
    entry_messages,
    entry_view_messages,
    esc,
    shorten,
)
from bot.runtime import drafts
from bot.runtime.access import admin_command, admin_only
from bot.runtime.context import Context
from handlers.entry_steps import (
    LISTS,
    MORE_ALTERNATES,
    STEPS,
    TEXT_STAGES,
    ZH_STAGES,
    EntryDraft,
    choice_keyboard,
    choice_text,
    drop_draft,
    more_alternates_html,
    prompt_html,
)
from handlers.maintainer_ui import (
    callback,
    edit,
    knowledge_dir,
    problems_html,
    query_message,
    reply_long,
    shown_path,
)
from knowledge.authoring import (
    Review,
    build_entry,
    changed_fields,
    clean_alternate,
    clean_answer,
    clean_caveat,
    clean_question,
    error_text,
    find_entries,
    parse_source,
)
from knowledge.bilingual import Untranslated, shared_chinese, translation
from knowledge.loader import KnowledgeError
from knowledge.model import MIN_ALTERNATES, Status, Topic
from knowledge.saves import EditConflict, NotReviewed, new_id, on_disk, save_entry
from knowledge.writer import EntryExists, chinese_on_disk, entry_path

log = logging.getLogger(__name__)

EDIT_CHOICES = 8
CLOSED = "This draft is closed. Start again with /add or /edit."


def _lines(text: str) -> tuple[list[str], bool]:
    """One item per line (bullets dropped); True when a line says "done"."""
    items, done = [], False
    for raw in text.splitlines():
        line = re.sub(r"^[-•*]\s+", "", raw.strip()).strip()
        if line.lower() == "done":
            done = True
        elif line:
            items.append(line)
    return items, done


def _is(text: str, word: str) -> bool:
    return text.strip().lower() == word


async def _advance(message: Message, context: Context, draft: EntryDraft) -> None:
    at = STEPS.index(draft.stage) + 1
    if at == len(STEPS):
        await _preview(message, context, draft)
        return
    draft.stage = STEPS[at]
    if draft.stage == "zh_caveats":
        draft.zh_shared, draft.zh_typed = (
            shared_chinese(draft.caveats, context.bot_data.matcher.base.shared),
            [],
        )
        if None not in draft.zh_shared:  # none to type: every caveat is shared, or there are none
            draft.zh.caveats = list(draft.zh_shared)  # type: ignore[arg-type]  # no None left
            await _preview(message, context, draft)
            return
    if draft.stage in TEXT_STAGES:
        await reply_long(message, prompt_html(draft))
    else:
        await message.reply_text(
            choice_text(draft, draft.stage), reply_markup=choice_keyboard(draft, draft.stage)
        )


async def on_draft_input(update: Update, context: Context) -> None:
    """Text from an admin whose entry draft waits for text."""
    message = update.message
    draft = drafts.current(context, EntryDraft)
    assert message is not None and message.text is not None and draft is not None
    text = message.text.strip()
    if draft.stage in ZH_STAGES:
        await _take_chinese(message, context, draft, text)
        return
    if draft.original is not None and _is(text, "keep"):
        original = draft.original
        value = getattr(original, draft.stage)
        setattr(draft, draft.stage, list(value) if draft.stage in LISTS else value)
        await _advance(message, context, draft)
        return
    take = {
        "question": _take_question,
        "alternates": _take_alternates,
        "answer": _take_answer,
        "caveats": _take_caveats,
        "sources": _take_sources,
        MORE_ALTERNATES: _take_more_alternates,
    }[draft.stage]
    await take(message, context, draft, text)


async def _take_question(message: Message, context: Context, draft: EntryDraft, text: str) -> None:
    try:
        draft.question = clean_question(text)
    except ValueError as exc:
        await message.reply_text(f"❌ That is {esc(str(exc))}. Please shorten it.")
        return
    await _advance(message, context, draft)


def _replacing(draft: EntryDraft, name: str, items: list[str]) -> None:
    """/edit: the first new item of a list replaces the current ones."""
    if draft.original is not None and items and name not in draft.replaced:
        draft.replaced.add(name)
        setattr(draft, name, [])


async def _take_alternates(
    message: Message, context: Context, draft: EntryDraft, text: str
) -> None:
    items, done = _lines(text)
    _replacing(draft, "alternates", items)
    added, notes = _add_alternates(draft, items)
    have = len(draft.alternates)
    if done and have >= MIN_ALTERNATES:
        if notes:
            await message.reply_text(f"Skipped:{notes}")
        await _advance(message, context, draft)
        return
    need = (
        f"at least {MIN_ALTERNATES} are needed; send more"
        if have < MIN_ALTERNATES
        else "send more, or <code>done</code>"
    )
    await message.reply_text(f"Got {added} ({have} in all); {need}.{notes}")


def _add_alternates(draft: EntryDraft, items: list[str]) -> tuple[int, str]:
    """Add the new phrasings; how many, and a note listing those skipped and why."""
    problems, added = [], 0
    for item in items:
        try:
            draft.alternates.append(clean_alternate(item, [draft.question, *draft.alternates]))
            added += 1
        except ValueError as exc:
            problems.append(str(exc))
    return added, "".join(f"\n• {esc(p)}" for p in problems)


async def _take_more_alternates(
    message: Message, context: Context, draft: EntryDraft, text: str
) -> None:
    items, done = _lines(text)
    added, notes = _add_alternates(draft, items)
    assert draft.original is not None
    new = len(draft.alternates) - len(draft.original.alternates)
    if done and new:
        if notes:
            await message.reply_text(f"Skipped:{notes}")
        await _preview(message, context, draft)
        return
    need = "send at least one" if not new else "send more, or <code>done</code> for the preview"
    await message.reply_text(f"Got {added} ({new} new in all); {need}.{notes}")


@admin_only("entry add alternates")
async def on_more_alternates_button(update: Update, context: Context) -> None:
    """ "➕ Only add alternates" under /edit's first step: jump to that step alone."""
    query = update.callback_query
    assert query is not None and query.data is not None
    pressed = await _pressed(update, context, query.data.removeprefix("ea:"))
    if pressed is None:
        return
    draft, message = pressed
    if draft.original is None or draft.stage != "question":
        await query.answer("Already started: go on step by step, or /cancel.")
        return
    draft.stage = MORE_ALTERNATES
    await query.answer()
    await edit(message, None)
    await reply_long(message, more_alternates_html(draft))


async def _take_answer(message: Message, context: Context, draft: EntryDraft, text: str) -> None:
    try:
        draft.answer = clean_answer(text.splitlines())
    except ValueError as exc:
        await message.reply_text(
            f"❌ That is {esc(str(exc))}. Please send a shorter one (move details into caveats or a related entry)."
        )
        return
    await _advance(message, context, draft)


async def _take_caveats(message: Message, context: Context, draft: EntryDraft, text: str) -> None:
    if _is(text, "none"):
        draft.caveats = []
        await _advance(message, context, draft)
        return
    items, done = _lines(text)
    _replacing(draft, "caveats", items)
    problems = []
    for item in items:
        try:
            draft.caveats.append(clean_caveat(item))
        except ValueError as exc:
            problems.append(str(exc))
    if done and not problems:
        await _advance(message, context, draft)
        return
    notes = "".join(f"\n• {esc(p)}" for p in problems)
    await message.reply_text(
        f"Got {len(items) - len(problems)} ({len(draft.caveats)} in all); send more, or <code>done</code>.{notes}"
    )


async def _take_chinese(message: Message, context: Context, draft: EntryDraft, text: str) -> None:
    """A Chinese step: its text, "keep" (when allowed), or "later" (straight to the preview)."""
    part = draft.stage.removeprefix("zh_")
    if _is(text, "later"):
        await _preview(message, context, draft)
        return
    if _is(text, "keep"):
        if draft.can_keep_chinese(part):
            await _advance(message, context, draft)
        else:
            await message.reply_text(
                f"❌ There is no Chinese {part} to keep: its English is new or changed. Please send it."
            )
        return
    try:
        if part == "question":
            draft.zh.question = clean_question(text)
        elif part == "answer":
            draft.zh.answer = clean_answer(text.splitlines())
        else:
            draft.zh_typed += [clean_caveat(item) for item in _lines(text)[0]]
    except ValueError as exc:
        await message.reply_text(f"❌ That is {esc(str(exc))}. Please send it again.")
        return
    if part == "caveats":
        need = draft.zh_shared.count(None)
        if len(draft.zh_typed) < need:
            await message.reply_text(f"Got {len(draft.zh_typed)} of {need}; send the next.")
            return
        if len(draft.zh_typed) > need:
            await message.reply_text(
                f"❌ {len(draft.zh_typed)} caveats, but {need} English ones to translate; send them again."
            )
            draft.zh_typed = []
            return
        typed = iter(draft.zh_typed)
        draft.zh.caveats = [zh if zh is not None else next(typed) for zh in draft.zh_shared]
    await _advance(message, context, draft)


async def _take_sources(message: Message, context: Context, draft: EntryDraft, text: str) -> None:
    items, done = _lines(text)
    parsed, problems = [], []
    for n, item in enumerate(items, 1):
        try:
            parsed.append(parse_source(item))
        except ValueError as exc:
            problems.append(f"line {n}: {exc}" if len(items) > 1 else str(exc))
    if problems:  # all or nothing per message: easier to resend
        reasons = "\n".join(f"• {esc(p)}" for p in problems)
        await message.reply_text(
            f"❌ Not added:\n{reasons}\nPlease send it again as <code>title | publisher | url | date | tier</code>."
        )
        return
    _replacing(draft, "sources", items)
    draft.sources.extend(s for s in parsed if s not in draft.sources)
    if done and draft.sources:
        await _advance(message, context, draft)
        return
    need = "at least one is needed" if not draft.sources else "send more, or <code>done</code>"
    await message.reply_text(f"Got {len(parsed)} ({len(draft.sources)} in all); {need}.")


async def _pressed(
    update: Update, context: Context, nonce: str
) -> tuple[EntryDraft, Message] | None:
    """The open draft and the message under a button carrying `nonce`; None (and "closed") when the
    button belongs to a finished, cancelled or replaced draft."""
    query = update.callback_query
    assert query is not None
    draft = drafts.current(context, EntryDraft)
    message = query_message(update)
    if draft is None or draft.nonce != nonce or message is None:
        await query.answer(CLOSED, show_alert=True)
        return None
    return draft, message


@admin_only("entry topic")
async def on_topic_button(update: Update, context: Context) -> None:
    await _on_choice(update, context, "topic")


@admin_only("entry status")
async def on_status_button(update: Update, context: Context) -> None:
    await _on_choice(update, context, "status")


async def _on_choice(update: Update, context: Context, kind: str) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    _, nonce, value = (query.data.split(":", 2) + ["", ""])[:3]
    pressed = await _pressed(update, context, nonce)
    if pressed is None:
        return
    draft, message = pressed
    if draft.stage != kind:
        await query.answer("Already chosen.")
        return
    enum = Topic if kind == "topic" else Status
    if value not in enum._value2member_map_:
        await query.answer()
        return
    label = TOPIC_LABELS[Topic(value)] if kind == "topic" else STATUS_BADGES[Status(value)]
    setattr(draft, kind, enum(value))
    await query.answer()
    await edit(message, f"{kind.capitalize()}: <b>{esc(label)}</b>")
    if kind == "status" and not _valid(draft):
        await _preview(message, context, draft)  # says why, before any Chinese is typed
        return
    await _advance(message, context, draft)


def _valid(draft: EntryDraft) -> bool:
    """Whether the English steps make a valid entry (the model, e.g. status against sources)."""
    try:
        build_entry(
            draft,
            draft.original.id if draft.original else "new-entry",
            dt.date.today(),
            draft.original,
        )
    except ValidationError:
        return False
    return True


async def _preview(message: Message, context: Context, draft: EntryDraft) -> None:
    """Show the entry exactly as users will see it, then Save / Cancel."""
    draft.stage = "preview"
    data = context.bot_data
    root = knowledge_dir(data)
    entry_id = draft.original.id if draft.original else new_id(data, root, draft)
    cancel = InlineKeyboardButton("Cancel", callback_data=callback(f"ex:{draft.nonce}"))
    try:
        entry = build_entry(draft, entry_id, dt.date.today(), draft.original)
    except ValidationError as exc:
        reasons = "\n".join(f"• {esc(error_text(e))}" for e in exc.errors())
        await message.reply_text(
            f"❌ This entry is not valid, so it can't be saved:\n{reasons}",
            reply_markup=InlineKeyboardMarkup([[cancel]]),
        )
        return
    for part in entry_messages(entry):
        await message.reply_text(part)
    try:
        zh = translation(
            entry, draft.zh, data.matcher.base.shared, draft.original, draft.original_zh
        )
    except Untranslated as exc:
        chinese = f"中文: ❌ not ready ({esc(str(exc))}); Save asks for it before publishing."
    else:
        for part in entry_view_messages(
            entry, View.FULL, text=entry_text(entry, Lang.ZH, {entry.id: zh})
        ):
            await message.reply_text(part)
        chinese = "中文: ☝️ as users asking in Chinese will see it."
    path = shown_path(entry_path(root, entry))
    if draft.original is None:
        what = f"New entry <code>{esc(entry.id)}</code> → <code>{esc(path)}</code>"
    else:
        changes = (
            ", ".join(changed_fields(draft.original, entry))
            or "none (a re-check of the sources can still be recorded)"
        )
        what = f"Changes to <code>{esc(entry.id)}</code> ({esc(path)}): {esc(changes)}"
    alternates = "\n".join(f"• {esc(shorten(a, 100))}" for a in entry.alternates)
    summary = (
        "☝️ <b>Preview</b>: exactly what users will see (with 👍/👎 and 🔔 buttons under it).\n\n"
        f"{what}\nTopic: {esc(TOPIC_LABELS[entry.topic])} · as of {entry.as_of.isoformat()} (its newest "
        f"source) · verified {entry.verified_on.isoformat()}{'' if draft.original is None else ' (today only if you re-checked every source)'} · re-check after {entry.review_after_days} days\n\n"
        f"Alternates ({len(entry.alternates)}):\n{alternates}\n\n{chinese}\n\n"
        "Save checks it as <code>visabot kb lint</code> would, with the whole knowledge base, writes it and "
        "makes it answerable at once. Text is shown exactly as typed: HTML tags such as &lt;b&gt; appear "
        "literally, they do not format."
    )
    save = InlineKeyboardButton("✅ Save", callback_data=callback(f"ev:{draft.nonce}"))
    if draft.original is None:
        buttons = InlineKeyboardMarkup([[save, cancel]])
    else:  # verified_on moves only when the maintainer says every source was re-checked
        rechecked = InlineKeyboardButton(
            "✅ Save · I re-checked every source today", callback_data=callback(f"ey:{draft.nonce}")
        )
        buttons = InlineKeyboardMarkup([[save], [rechecked], [cancel]])
    await reply_long(message, summary, buttons)


@admin_only("entry save")
async def on_save(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    confirmed = query.data.startswith("ew:")  # "Save anyway" after the warnings were shown
    pressed = await _pressed(update, context, query.data[3:])
    if pressed is None:
        return
    draft, message = pressed
    if draft.stage != "preview":
        await query.answer(CLOSED, show_alert=True)
        return
    if query.data.startswith("ey:"):  # kept through "Save anyway" (the draft is restored)
        draft.reverified = True
    drop_draft(context)  # before any await: a double tap saves once
    await query.answer("Saving…")
    data = context.bot_data
    root = knowledge_dir(data)
    try:
        entry, path = await asyncio.to_thread(
            save_entry, data, root, draft, draft.original, dt.date.today(), confirmed
        )
    except Untranslated as exc:  # back to the Chinese steps; what was typed can be kept
        draft.stage = ZH_STAGES[0]
        drafts.restore(context, draft)
        await edit(message, None)
        await reply_long(
            message, f"❌ Not saved, nothing was written: {esc(str(exc))}.\n\n" + prompt_html(draft)
        )
        return
    except NotReviewed as exc:
        drafts.restore(context, draft)  # kept: Save anyway, or /cancel
        await edit(message, None)
        await reply_long(message, *_review_reply(exc.review, draft))
        return
    except ValidationError as exc:
        reasons = "\n".join(f"• {esc(error_text(e))}" for e in exc.errors())
        await message.reply_text(
            f"❌ Not saved, nothing was written: the entry is not valid.\n{reasons}"
        )
        return
    except EditConflict:
        await message.reply_text(
            "❌ Not saved, nothing was written: this entry changed on disk after your /edit began "
            "(another maintainer, or a file not yet reloaded). Start again with "
            f"<code>/edit {esc(draft.original.id if draft.original else '')}</code> to see the current version."
        )
        return
    except KnowledgeError as exc:
        drafts.restore(context, draft)  # kept: Save again once the files are fixed
        await reply_long(
            message,
            "❌ Not saved, nothing was written: with it the knowledge base would be invalid.\n"
            f"{problems_html(exc.problems, root)}\n\nFix the files and press Save again, or /cancel.",
        )
        return
    except EntryExists:
        await message.reply_text(
            "❌ Not saved: no free id for this question. Reword it and start again with /add."
        )
        return
    await edit(message, None)
    for row_id, key in draft.gaps:  # the unanswered questions it answers leave /gaps
        data.db.remove_gap(row_id, key)
    user = query.from_user.id
    log.info(
        "admin %s %s entry %s in %s", user, "updated" if draft.original else "added", entry.id, path
    )
    verb = "Updated" if draft.original else "Saved"
    await message.reply_text(
        f"✅ {verb} <code>{esc(entry.id)}</code> in <code>{esc(shown_path(path))}</code>. It answers now, "
        f"no restart needed: try asking “{esc(shorten(entry.question, 100))}”."
    )


def _review_reply(review: Review, draft: EntryDraft) -> tuple[str, InlineKeyboardMarkup]:
    cancel = InlineKeyboardButton("Cancel", callback_data=callback(f"ex:{draft.nonce}"))
    listed = "\n".join(f"• {esc(str(f))}" for f in [*review.errors, *review.warnings])
    if review.errors:
        text = (
            f"❌ Not saved, nothing was written: <code>kb lint</code> finds {len(review.errors)} error(s) "
            f"with this entry in the knowledge base.\n{listed}\n\nReword it (/cancel, then /add or /edit)."
        )
        return text, InlineKeyboardMarkup([[cancel]])
    save = InlineKeyboardButton("⚠️ Save anyway", callback_data=callback(f"ew:{draft.nonce}"))
    text = f"⚠️ Not saved yet: {len(review.warnings)} warning(s).\n{listed}\n\nSave anyway if they are intended."
    return text, InlineKeyboardMarkup([[save, cancel]])


@admin_only("entry cancel")
async def on_cancel_button(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    draft = drafts.current(context, EntryDraft)
    if draft is not None and draft.nonce == query.data.removeprefix("ex:"):
        drop_draft(context)
    await query.answer("Cancelled.")
    await edit(query_message(update), "Entry draft cancelled; nothing was saved.")


async def on_cancel(update: Update, context: Context) -> None:
    """/cancel while an entry draft is open."""
    drop_draft(context)
    assert update.message is not None
    await update.message.reply_text("Cancelled; nothing was saved.")


# ---------------------------------------------------------------- /add and /edit


def start(context: Context, draft: object) -> str:
    """Open a draft; an unfinished one (entry or broadcast) is discarded: one draft at a time.
    The note to put before the first prompt."""
    return "(Your unfinished draft was discarded.)\n\n" if drafts.start(context, draft) else ""


@admin_command("/add")
async def on_add(update: Update, context: Context) -> None:
    assert update.message is not None
    draft = EntryDraft.new()
    note = start(context, draft)
    await update.message.reply_text(note + prompt_html(draft))


async def start_edit(message: Message, context: Context, entry_id: str) -> None:
    data = context.bot_data
    entry = await asyncio.to_thread(on_disk, knowledge_dir(data), entry_id)
    zh = await asyncio.to_thread(chinese_on_disk, knowledge_dir(data), entry_id)
    if entry is None:
        close = [c.entry.id for c in data.matcher.ranked(entry_id.replace("-", " "), limit=3)]
        hint = (
            f" Did you mean: {', '.join(f'<code>{esc(i)}</code>' for i in close)}?" if close else ""
        )
        await message.reply_text(
            f"No valid entry with id <code>{esc(entry_id)}</code> on disk.{hint}"
        )
        return
    draft = EntryDraft.editing(entry, zh)
    note = start(context, draft)
    only = InlineKeyboardButton(
        "➕ Only add alternates", callback_data=callback(f"ea:{draft.nonce}")
    )
    await reply_long(message, note + prompt_html(draft), InlineKeyboardMarkup([[only]]))


@admin_command("/edit")
async def on_edit(update: Update, context: Context) -> None:
    """/edit ID opens the entry; /edit words… lists the entries they find, as buttons."""
    assert update.message is not None
    args = context.args or []
    if len(args) == 1 and re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", args[0]):
        await start_edit(update.message, context, args[0])
        return
    if not args:
        await update.message.reply_text(
            "Usage: <code>/edit ENTRY-ID</code>, e.g. <code>/edit h1b-masters-cap</code>, or "
            "<code>/edit</code> with words to find it, e.g. <code>/edit masters cap</code>."
        )
        return
    words = " ".join(args)
    found = find_entries(context.bot_data.matcher, words, EDIT_CHOICES)
    if not found:
        await update.message.reply_text(
            f"No entry found for “{esc(shorten(words, 100))}”. Try other words."
        )
        return
    rows = [
        [InlineKeyboardButton(shorten(e.question), callback_data=callback(f"ee:{e.id}"))]
        for e in found
    ]
    await update.message.reply_text(
        f"✏️ Which entry? ({len(found)} found for “{esc(shorten(words, 100))}”)",
        reply_markup=InlineKeyboardMarkup(rows),
    )


@admin_only("an /edit button")
async def on_edit_button(update: Update, context: Context) -> None:
    """An entry picked from /edit's search (ee:ID) or from /feedback (fe:ID): open it in /edit."""
    query = update.callback_query
    message = query_message(update)
    assert query is not None and query.data is not None
    await query.answer()
    if message is not None:
        await start_edit(message, context, query.data[3:])
