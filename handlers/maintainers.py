"""Maintainers' knowledge-base work in Telegram: /add, /edit ID, /gaps, /feedback, /reload.

/add: question → alternates → answer → caveats → sources → topic (buttons) → status (buttons) →
a preview exactly as users will see it → Save / Cancel. /edit ID walks the same steps showing the
current values; "keep" keeps one. The draft is an EntryDraft in user_data (no ConversationHandler:
updates run concurrently); text from an admin whose draft waits for text is routed here by
handlers.on_private_text.

Saving goes through knowledge.writer (validated against the whole knowledge base, under a file
lock, atomic): two maintainers can neither overwrite each other nor get the same id (a taken id
gets a -2, -3… suffix). The knowledge base it returns is swapped in at once, so the entry answers
without a restart. Writes and reloads of this process run one at a time (WRITE_LOCK), so a slower
save can never swap an older knowledge base in over a newer one.

callback_data (≤ 64 bytes; ids and keys only, never user text); <n> is the draft's nonce, so a
button of a finished or cancelled draft does nothing:
  "et:<n>:<topic>" topic · "es:<n>:<status>" status · "ev:<n>" save · "ex:<n>" cancel
  "gn:<gap>" new entry from an unanswered question · "ga:<gap>" attach: show matching entries ·
  "gt:<gap>:<entry-id>" attach to that entry · "gx:<gap>" dismiss · "gb:<gap>" back
  "fe:<entry-id>" edit that entry (under /feedback)
<gap> is "<row id in base 36>.<5 hex digits of a hash of the question's key>": a button whose
row was deleted (and its id reused) cannot act on another question.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import re
import secrets
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import ValidationError
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest

from bot.context import BotData, Context
from bot.logs import user_text
from bot.render import source_date
from bot.storage import MAX_LOGGED_QUESTION_CHARS
from bot.telegram_render import (
    STATUS_BADGES,
    TOPIC_LABELS,
    Block,
    entry_messages,
    esc,
    pack,
    shorten,
)
from handlers import admin
from handlers.admin import refuse
from knowledge.authoring import Review, review_entry
from knowledge.loader import ENTRIES_DIRNAME, KnowledgeError, Problem, parse_entry_text
from knowledge.matcher import Outcome
from knowledge.model import MAX_ANSWER_CHARS, MIN_ALTERNATES, Entry, Source, Status, Tier, Topic
from knowledge.writer import (
    EntryExists,
    NoSuchEntry,
    add_entry,
    entry_path,
    remove_entry,
    update_entry,
)

log = logging.getLogger(__name__)

DRAFT_KEY = "entry_draft"
STEPS = ("question", "alternates", "answer", "caveats", "sources", "topic", "status")
TEXT_STAGES = STEPS[:5]
MAX_QUESTION_CHARS = 300
MAX_ALTERNATE_CHARS = MAX_LOGGED_QUESTION_CHARS  # an unanswered question can always be attached
MAX_CAVEAT_CHARS = 800
MAX_CALLBACK_BYTES = 64
MAX_PROBLEMS_SHOWN = 15
DEFAULT_GAPS, MAX_GAPS = 10, 30
ATTACH_CHOICES = 5
# How soon an entry is due for re-checking, by how firmly it is established.
REVIEW_DAYS = {Status.OFFICIAL: 90, Status.REPORTED: 30, Status.UNCLEAR: 30, Status.PENDING: 14}
TIERS = {t.value: t for t in Tier} | {"law firm": Tier.LAW_FIRM, "copy of official": Tier.COPY_OF_OFFICIAL}
# Words left out of ids made from a question ("What is the H-1B master's cap?" → h1b-masters-cap).
ID_STOPWORDS = frozenset((
    "a", "an", "the", "is", "are", "was", "were", "be", "do", "does", "did", "can", "could", "will",
    "would", "should", "i", "my", "me", "we", "our", "you", "your", "to", "of", "for", "in", "on",
    "at", "by", "with", "and", "or", "what", "how", "when", "who", "which", "why", "there", "it",
    "its", "any",
))
CLOSED = "This draft is closed. Start again with /add or /edit."

# Knowledge writes and reloads of this process, one at a time (see the module docstring).
WRITE_LOCK = threading.Lock()


class EditConflict(Exception):
    """The entry changed on disk after the /edit started; saving would overwrite that change."""


@dataclass
class EntryDraft:
    nonce: str
    original: Entry | None = None  # set for /edit: the entry as it was on disk when the edit began
    stage: str = "question"
    question: str = ""
    alternates: list[str] = field(default_factory=list)
    answer: str = ""
    caveats: list[str] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    topic: Topic | None = None
    status: Status | None = None
    replaced: set[str] = field(default_factory=set)  # /edit: lists whose new values have begun
    gap: str | None = None  # the /gaps question this draft answers: removed from the list on save

    @classmethod
    def new(cls, **values: object) -> EntryDraft:
        return cls(nonce=secrets.token_hex(4), **values)  # type: ignore[arg-type]

    @classmethod
    def editing(cls, entry: Entry) -> EntryDraft:
        return cls.new(
            original=entry, question=entry.question, alternates=list(entry.alternates), answer=entry.answer,
            caveats=list(entry.caveats), sources=list(entry.sources), topic=entry.topic, status=entry.status,
        )

    @property
    def editing_entry(self) -> bool:
        return self.original is not None


# ---------------------------------------------------------------- pure helpers


def slug_for(question: str, topic: Topic) -> str:
    """An id from the question: ASCII words without filler, prefixed by the topic, ≤ 48 chars."""
    text = unicodedata.normalize("NFKD", question).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"\bh-1b\b", "h1b", text.replace("'", "").replace("’", ""))
    words = re.findall(r"[a-z0-9]+", text)
    words = [w for w in words if w not in ID_STOPWORDS] or words
    prefix = topic.value.split("-")
    if words[: len(prefix)] != prefix:
        words = [*prefix, *words]
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > 40:  # room for a -2… suffix within the 48-character limit
            break
        slug = candidate
    return slug or topic.value


def unique_id(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def url_problem(url: str) -> str | None:
    """Why `url` is not a well-formed http(s) URL, or None."""
    if not url or any(c.isspace() for c in url):
        return "the URL is empty or contains spaces"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "the URL is not well-formed"
    if parts.scheme not in ("http", "https"):
        return "the URL must start with http:// or https://"
    host = parts.hostname or ""
    if "." not in host or not re.fullmatch(r"(?:[^\W_]([\w-]*[^\W_])?\.)+[^\W\d_]{2,}", host):
        return f"the URL has no valid host name ({host or 'none'})"
    return None


def source_line(source: Source) -> str:
    return f"{source.title} | {source.publisher} | {source.url} | {source_date(source)} | {source.tier.value}"


def parse_source(line: str) -> Source:
    """`title | publisher | url | date | tier` → Source; ValueError says what is wrong."""
    parts = [p.strip() for p in line.split("|")]
    if len(parts) != 5:
        raise ValueError(f"expected 5 parts separated by |, found {len(parts)}")
    title, publisher, url, date, tier = parts
    problem = url_problem(url)
    if problem:
        raise ValueError(problem)
    approximate = False
    circa = re.fullmatch(r"(?:c\.?|~|circa)\s*(\S+)", date, flags=re.IGNORECASE)
    if circa:
        approximate, date = True, circa.group(1)
    elif date.lower() in ("n.d.", "n.d", "nd"):
        date = "n.d."
    elif not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        raise ValueError(f"date {date!r}: use YYYY-MM-DD, c. YYYY-MM-DD or n.d.")
    if tier.lower() not in TIERS:
        raise ValueError(f"tier {tier!r}: use official, copy-of-official, law-firm or news")
    try:
        return Source(
            title=title, publisher=publisher, url=url, date=date, approximate=approximate,  # type: ignore[arg-type]
            tier=TIERS[tier.lower()],
        )
    except ValidationError as exc:
        raise ValueError("; ".join(_error_text(e) for e in exc.errors())) from None


def _error_text(error: object) -> str:
    err = error if isinstance(error, dict) else {}
    loc = ".".join(str(p) for p in err.get("loc", ())) or "entry"
    return f"{loc}: {str(err.get('msg', '')).removeprefix('Value error, ')}"


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


def build_entry(draft: EntryDraft, entry_id: str, today: dt.date) -> Entry:
    """The Entry a draft describes, validated by the model (raises ValidationError)."""
    assert draft.topic is not None and draft.status is not None
    original = draft.original
    if original is None:
        as_of, review, kept = today, REVIEW_DAYS[draft.status], {}
    else:
        changed = (draft.answer, draft.caveats, draft.status, draft.sources) != (
            original.answer, list(original.caveats), original.status, list(original.sources)
        )
        as_of = today if changed else original.as_of
        review = original.review_after_days if draft.status is original.status else REVIEW_DAYS[draft.status]
        kept = {"keywords": original.keywords, "related": original.related, "history": original.history}
        if draft.answer == original.answer:  # a new answer needs its own summary (or none)
            kept["summary"] = original.summary
    return Entry(
        id=entry_id, topic=draft.topic, question=draft.question, alternates=draft.alternates,
        answer=draft.answer, caveats=draft.caveats, status=draft.status, sources=draft.sources,
        as_of=as_of, verified_on=max(today, as_of), review_after_days=review, **kept,  # type: ignore[arg-type]
    )


def changed_fields(draft: EntryDraft, entry: Entry) -> list[str]:
    original = draft.original
    if original is None:
        return []
    names = ("question", "alternates", "answer", "caveats", "sources", "topic", "status")
    return [n for n in names if getattr(entry, n) != getattr(original, n)]


def _root(data: BotData) -> Path:
    assert data.settings is not None
    return data.settings.knowledge_dir


def _shown_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _problem_text(problem: Problem, root: Path) -> str:
    try:
        where = str(problem.path.relative_to(root))
    except ValueError:
        where = str(problem.path)
    where = f"{where}:{problem.line}" if problem.line else where
    return shorten(f"{where}: {problem.message}", 300)


def problems_html(problems: list[Problem], root: Path) -> str:
    lines = [f"• {esc(_problem_text(p, root))}" for p in problems[:MAX_PROBLEMS_SHOWN]]
    if len(problems) > MAX_PROBLEMS_SHOWN:
        lines.append(f"… and {len(problems) - MAX_PROBLEMS_SHOWN} more (see <code>visabot kb lint</code>)")
    return "\n".join(lines)


# ---------------------------------------------------------------- disk (run in a worker thread)


def _on_disk(root: Path, entry_id: str) -> Entry | None:
    for path in (root / ENTRIES_DIRNAME).glob(f"*/{entry_id}.yaml"):
        entry, _ = parse_entry_text(path.read_text(encoding="utf-8"), path)
        return entry
    return None


def _taken_ids(data: BotData, root: Path) -> set[str]:
    """Ids in use: served ones and any file on disk (e.g. written by `visabot kb add`, not yet reloaded)."""
    return set(data.kb.base.by_id) | {p.stem for p in (root / ENTRIES_DIRNAME).glob("*/*.yaml")}


class NotReviewed(Exception):
    """The entry fails `kb lint`'s checks (errors), or has warnings not yet confirmed."""

    def __init__(self, review: Review):
        self.review = review
        super().__init__(f"{len(review.errors)} error(s), {len(review.warnings)} warning(s)")


def _review(data: BotData, entry: Entry, today: dt.date, replaces: str | None, confirmed: bool) -> None:
    review = review_entry(data.kb.base, entry, today, replaces)
    if review.errors or (review.warnings and not confirmed):
        raise NotReviewed(review)


def save_draft(data: BotData, draft: EntryDraft, today: dt.date, confirmed: bool = False) -> tuple[Entry, Path]:
    """Check the draft's entry as `kb lint` would with it included (errors raise NotReviewed;
    warnings too unless `confirmed`), write it, and serve the knowledge base that now holds it."""
    root = _root(data)
    with WRITE_LOCK:
        if draft.original is not None:
            if _on_disk(root, draft.original.id) != draft.original:
                raise EditConflict(draft.original.id)
            entry = build_entry(draft, draft.original.id, today)
            _review(data, entry, today, draft.original.id, confirmed)
            base = update_entry(root, entry)
        else:
            assert draft.topic is not None
            wanted = slug_for(draft.question, draft.topic)
            for _ in range(10):
                entry = build_entry(draft, unique_id(wanted, _taken_ids(data, root)), today)
                _review(data, entry, today, None, confirmed)
                try:
                    base = add_entry(root, entry)
                    break
                except EntryExists:  # another process wrote that id between our look and its lock
                    continue
            else:
                raise EntryExists(wanted)
        data.reload(base)
    return entry, entry_path(root, entry)


def attach_alternate(data: BotData, entry_id: str, question: str) -> tuple[Entry | None, bool]:
    """Add `question` to an entry's alternates (read from disk, so no concurrent change is lost).
    Returns (the entry or None when it is gone, whether anything changed)."""
    root = _root(data)
    with WRITE_LOCK:
        current = _on_disk(root, entry_id)
        if current is None:
            return None, False
        if question.casefold() in {p.casefold() for p in (current.question, *current.alternates)}:
            return current, False
        entry = Entry.model_validate({**current.model_dump(), "alternates": [*current.alternates, question]})
        data.reload(update_entry(root, entry))
    return entry, True


def delete_entry(data: BotData, entry_id: str) -> list[str]:
    """Remove the entry's file and serve the base without it; the ids still naming it as related.
    Raises NoSuchEntry."""
    with WRITE_LOCK:
        base, referring = remove_entry(_root(data), entry_id)
        data.reload(base)
    return referring


def reload_from_disk(data: BotData) -> list[Problem]:
    with WRITE_LOCK:
        return data.reload()


# ---------------------------------------------------------------- Telegram helpers


def _draft(context: Context) -> EntryDraft | None:
    draft = context.user_data.get(DRAFT_KEY) if context.user_data is not None else None
    return draft if isinstance(draft, EntryDraft) else None


def has_draft(context: Context) -> bool:
    return _draft(context) is not None


def has_open_draft(context: Context) -> bool:
    """True while the draft waits for text (its later steps are buttons)."""
    draft = _draft(context)
    return draft is not None and draft.stage in TEXT_STAGES


def drop_draft(context: Context) -> bool:
    return context.user_data is not None and context.user_data.pop(DRAFT_KEY, None) is not None


def _log_text(context: Context) -> bool:
    settings = context.bot_data.settings
    return bool(settings and settings.log_user_text)


def callback(data: str) -> str:
    assert len(data.encode()) <= MAX_CALLBACK_BYTES, data
    return data


async def reply_long(message: Message, html: str, markup: InlineKeyboardMarkup | None = None) -> Message:
    """Send HTML made of paragraphs, split into as few messages as fit; the keyboard goes last."""
    parts = pack([Block(p) for p in html.split("\n\n")])
    sent = message
    for n, part in enumerate(parts, 1):
        sent = await message.reply_text(part, reply_markup=markup if n == len(parts) else None)
    return sent


async def _edit(message: Message | None, text: str | None, markup: InlineKeyboardMarkup | None = None) -> None:
    if message is None:
        return
    try:
        if text is None:
            await message.edit_reply_markup(markup)
        else:
            await message.edit_text(text, reply_markup=markup)
    except BadRequest as exc:  # "message is not modified" after a double tap is harmless
        if "not modified" not in str(exc).lower():
            raise


def _query_message(update: Update) -> Message | None:
    query = update.callback_query
    message = query.message if query is not None else None
    return message if isinstance(message, Message) else None


# ---------------------------------------------------------------- the steps


def _now_html(draft: EntryDraft) -> str:
    """/edit: the current value of this step, and how to keep it."""
    original = draft.original
    assert original is not None
    stage = draft.stage
    if stage == "question":
        now = f"<i>{esc(original.question)}</i>"
    elif stage == "alternates":
        now = "\n".join(f"• {esc(a)}" for a in original.alternates)
    elif stage == "answer":
        now = esc(original.answer)
    elif stage == "caveats":
        now = "\n".join(f"• {esc(c)}" for c in original.caveats) or "<i>none</i>"
    else:
        now = "\n".join(f"<code>{esc(source_line(s))}</code>" for s in original.sources)
    replace = " New ones replace them all." if stage in ("alternates", "caveats", "sources") else ""
    return f"<b>Now:</b>\n{now}\n\nSend <code>keep</code> to keep {'them' if replace else 'it'}.{replace}"


def prompt_html(draft: EntryDraft) -> str:
    step = STEPS.index(draft.stage) + 1
    what = f"✏️ <b>Editing {esc(draft.original.id)}</b>" if draft.original else "➕ <b>New entry</b>"
    head = f"{what} · step {step} of {len(STEPS)}: "
    body = {
        "question": "the <b>question</b>, worded as users will see it above the answer.",
        "alternates": (
            f"<b>alternate phrasings</b>: how people actually ask it (at least {MIN_ALTERNATES}), one per "
            "message or one per line. Send <code>done</code> when finished."
        ),
        "answer": (
            f"the <b>answer</b>, plain text, at most {MAX_ANSWER_CHARS} characters; a blank line starts a "
            "new paragraph."
        ),
        "caveats": (
            "the <b>caveats</b>, one per message or one per line, then <code>done</code>; or "
            "<code>none</code>."
        ),
        "sources": (
            "the <b>sources</b>, one per message or one per line, then <code>done</code>:\n"
            "<code>title | publisher | url | date | tier</code>\n"
            "date: YYYY-MM-DD, <code>c. YYYY-MM-DD</code> when approximate, or <code>n.d.</code>; "
            "tier: official, copy-of-official, law-firm or news."
        ),
    }[draft.stage]
    text = head + body
    if draft.stage == "question" and draft.alternates and draft.original is None:
        text += f"\n\nFrom /gaps: the user's question is already its first alternate:\n<i>{esc(draft.alternates[0])}</i>"
    if draft.stage == "alternates" and draft.alternates and draft.original is None:
        listed = "\n".join(f"• {esc(a)}" for a in draft.alternates)
        text += f"\n\nAlready in ({len(draft.alternates)}):\n{listed}"
    if draft.original is not None:
        text += "\n\n" + _now_html(draft)
    return text + "\n\n/cancel stops; nothing is saved until you press Save."


def _choice_keyboard(draft: EntryDraft, kind: str) -> InlineKeyboardMarkup:
    if kind == "topic":
        options = [(t.value, TOPIC_LABELS[t], draft.topic is t) for t in Topic]
    else:
        options = [(s.value, STATUS_BADGES[s], draft.status is s) for s in Status]
    prefix = "et" if kind == "topic" else "es"
    rows = [
        [InlineKeyboardButton(("☑️ " if current and draft.original else "") + label,
                              callback_data=callback(f"{prefix}:{draft.nonce}:{value}"))]
        for value, label, current in options
    ]
    rows.append([InlineKeyboardButton("Cancel", callback_data=callback(f"ex:{draft.nonce}"))])
    return InlineKeyboardMarkup(rows)


def _choice_text(draft: EntryDraft, kind: str) -> str:
    step = STEPS.index(kind) + 1
    what = f"✏️ <b>Editing {esc(draft.original.id)}</b>" if draft.original else "➕ <b>New entry</b>"
    body = "pick the <b>topic</b>." if kind == "topic" else (
        "how firmly is it established? Pick the <b>status</b>: <i>official</i> when the authority "
        "states it; <i>reported</i> when only media or law firms do; <i>unclear</i> when sources "
        "conflict; <i>pending</i> when the authority has not published it."
    )
    keep = " (☑️ marks the current one)" if draft.original else ""
    return f"{what} · step {step} of {len(STEPS)}: {body}{keep}"


async def _advance(message: Message, context: Context, draft: EntryDraft) -> None:
    draft.stage = STEPS[STEPS.index(draft.stage) + 1]
    if draft.stage in TEXT_STAGES:
        await reply_long(message, prompt_html(draft))
    else:
        await message.reply_text(_choice_text(draft, draft.stage), reply_markup=_choice_keyboard(draft, draft.stage))


async def on_draft_input(update: Update, context: Context) -> None:
    """Text from an admin whose entry draft waits for text."""
    message = update.message
    draft = _draft(context)
    assert message is not None and message.text is not None and draft is not None
    text = message.text.strip()
    if draft.original is not None and _is(text, "keep"):
        original = draft.original
        setattr(draft, draft.stage, list(getattr(original, draft.stage)) if draft.stage in ("alternates", "caveats", "sources")
                else getattr(original, draft.stage))
        await _advance(message, context, draft)
        return
    take = {"question": _take_question, "alternates": _take_alternates, "answer": _take_answer,
            "caveats": _take_caveats, "sources": _take_sources}[draft.stage]
    await take(message, context, draft, text)


async def _take_question(message: Message, context: Context, draft: EntryDraft, text: str) -> None:
    question = " ".join(text.split())
    if len(question) > MAX_QUESTION_CHARS:
        await message.reply_text(
            f"❌ That is {len(question)} characters; a question is at most {MAX_QUESTION_CHARS}. Please shorten it."
        )
        return
    draft.question = question
    await _advance(message, context, draft)


def _replacing(draft: EntryDraft, name: str, items: list[str]) -> None:
    """/edit: the first new item of a list replaces the current ones."""
    if draft.original is not None and items and name not in draft.replaced:
        draft.replaced.add(name)
        setattr(draft, name, [])


async def _take_alternates(message: Message, context: Context, draft: EntryDraft, text: str) -> None:
    items, done = _lines(text)
    _replacing(draft, "alternates", items)
    problems, added = [], 0
    for item in (" ".join(i.split()) for i in items):
        if len(item) > MAX_ALTERNATE_CHARS:
            problems.append(f"longer than {MAX_ALTERNATE_CHARS} characters: {shorten(item, 40)}")
        elif item.casefold() in {a.casefold() for a in draft.alternates}:
            problems.append(f"already there: {shorten(item, 40)}")
        else:
            draft.alternates.append(item)
            added += 1
    notes = "".join(f"\n• {esc(p)}" for p in problems)
    have = len(draft.alternates)
    if done and have >= MIN_ALTERNATES:
        if notes:
            await message.reply_text(f"Skipped:{notes}")
        await _advance(message, context, draft)
        return
    need = f"at least {MIN_ALTERNATES} are needed; send more" if have < MIN_ALTERNATES else "send more, or <code>done</code>"
    await message.reply_text(f"Got {added} ({have} in all); {need}.{notes}")


async def _take_answer(message: Message, context: Context, draft: EntryDraft, text: str) -> None:
    answer = "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).strip()
    if len(answer) > MAX_ANSWER_CHARS:
        await message.reply_text(
            f"❌ That is {len(answer)} characters; an answer is at most {MAX_ANSWER_CHARS}. "
            "Please send a shorter one (move details into caveats or a related entry)."
        )
        return
    draft.answer = answer
    await _advance(message, context, draft)


async def _take_caveats(message: Message, context: Context, draft: EntryDraft, text: str) -> None:
    if _is(text, "none"):
        draft.caveats = []
        await _advance(message, context, draft)
        return
    items, done = _lines(text)
    _replacing(draft, "caveats", items)
    too_long = [i for i in items if len(i) > MAX_CAVEAT_CHARS]
    draft.caveats.extend(" ".join(i.split()) for i in items if len(i) <= MAX_CAVEAT_CHARS)
    notes = "".join(f"\n• longer than {MAX_CAVEAT_CHARS} characters, skipped: {esc(shorten(i, 40))}" for i in too_long)
    if done and not too_long:
        await _advance(message, context, draft)
        return
    await message.reply_text(f"Got {len(items) - len(too_long)} ({len(draft.caveats)} in all); send more, or <code>done</code>.{notes}")


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


async def on_topic_button(update: Update, context: Context) -> None:
    await _on_choice(update, context, "topic")


async def on_status_button(update: Update, context: Context) -> None:
    await _on_choice(update, context, "status")


async def _on_choice(update: Update, context: Context, kind: str) -> None:
    if await refuse(update, context, f"entry {kind}"):
        return
    query = update.callback_query
    assert query is not None and query.data is not None
    _, nonce, value = (query.data.split(":", 2) + ["", ""])[:3]
    draft = _draft(context)
    message = _query_message(update)
    if draft is None or draft.nonce != nonce or message is None:
        await query.answer(CLOSED, show_alert=True)
        return
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
    await _edit(message, f"{kind.capitalize()}: <b>{esc(label)}</b>")
    if kind == "topic":
        await _advance(message, context, draft)
    else:
        await _preview(message, context, draft)


async def _preview(message: Message, context: Context, draft: EntryDraft) -> None:
    """Show the entry exactly as users will see it, then Save / Cancel."""
    draft.stage = "preview"
    data = context.bot_data
    root = _root(data)
    assert draft.topic is not None
    entry_id = draft.original.id if draft.original else unique_id(slug_for(draft.question, draft.topic), _taken_ids(data, root))
    cancel = InlineKeyboardButton("Cancel", callback_data=callback(f"ex:{draft.nonce}"))
    try:
        entry = build_entry(draft, entry_id, dt.date.today())
    except ValidationError as exc:
        reasons = "\n".join(f"• {esc(_error_text(e))}" for e in exc.errors())
        await message.reply_text(f"❌ This entry is not valid, so it can't be saved:\n{reasons}", reply_markup=InlineKeyboardMarkup([[cancel]]))
        return
    for part in entry_messages(entry):
        await message.reply_text(part)
    path = _shown_path(entry_path(root, entry))
    if draft.original is None:
        what = f"New entry <code>{esc(entry.id)}</code> → <code>{esc(path)}</code>"
    else:
        changes = ", ".join(changed_fields(draft, entry)) or "nothing but the verification date"
        what = f"Changes to <code>{esc(entry.id)}</code> ({esc(path)}): {esc(changes)}"
    alternates = "\n".join(f"• {esc(shorten(a, 100))}" for a in entry.alternates)
    summary = (
        "☝️ <b>Preview</b>: exactly what users will see (with 👍/👎 and 🔔 buttons under it).\n\n"
        f"{what}\nTopic: {esc(TOPIC_LABELS[entry.topic])} · as of {entry.as_of.isoformat()} · "
        f"re-check after {entry.review_after_days} days\n\n"
        f"Alternates ({len(entry.alternates)}):\n{alternates}\n\n"
        "Save checks it as <code>visabot kb lint</code> would, with the whole knowledge base, writes it and "
        "makes it answerable at once. Text is shown exactly as typed: HTML tags such as &lt;b&gt; appear "
        "literally, they do not format."
    )
    buttons = InlineKeyboardMarkup([[InlineKeyboardButton("✅ Save", callback_data=callback(f"ev:{draft.nonce}")), cancel]])
    await reply_long(message, summary, buttons)


async def on_save(update: Update, context: Context) -> None:
    if await refuse(update, context, "entry save"):
        return
    query = update.callback_query
    assert query is not None and query.data is not None
    draft = _draft(context)
    message = _query_message(update)
    confirmed = query.data.startswith("ew:")  # "Save anyway" after the warnings were shown
    if draft is None or draft.nonce != query.data[3:] or draft.stage != "preview" or message is None:
        await query.answer(CLOSED, show_alert=True)
        return
    drop_draft(context)  # before any await: a double tap saves once
    await query.answer("Saving…")
    data = context.bot_data
    root = _root(data)
    try:
        entry, path = await asyncio.to_thread(save_draft, data, draft, dt.date.today(), confirmed)
    except NotReviewed as exc:
        if context.user_data is not None:
            context.user_data.setdefault(DRAFT_KEY, draft)  # kept: Save anyway, or /cancel
        await _edit(message, None)
        await reply_long(message, *_review_reply(exc.review, draft))
        return
    except ValidationError as exc:
        reasons = "\n".join(f"• {esc(_error_text(e))}" for e in exc.errors())
        await message.reply_text(f"❌ Not saved, nothing was written: the entry is not valid.\n{reasons}")
        return
    except EditConflict:
        await message.reply_text(
            "❌ Not saved, nothing was written: this entry changed on disk after your /edit began "
            "(another maintainer, or a file not yet reloaded). Start again with "
            f"<code>/edit {esc(draft.original.id if draft.original else '')}</code> to see the current version."
        )
        return
    except KnowledgeError as exc:
        if context.user_data is not None:
            context.user_data.setdefault(DRAFT_KEY, draft)  # kept: Save again once the files are fixed
        await reply_long(
            message,
            "❌ Not saved, nothing was written: with it the knowledge base would be invalid.\n"
            f"{problems_html(exc.problems, root)}\n\nFix the files and press Save again, or /cancel.",
        )
        return
    except EntryExists:
        await message.reply_text("❌ Not saved: no free id for this question. Reword it and start again with /add.")
        return
    await _edit(message, None)
    if draft.gap:
        gap = _gap(data, draft.gap)
        if gap is not None:
            data.db.remove_gap(int(gap["id"]), str(gap["key"]))  # type: ignore[call-overload]
    user = query.from_user.id
    log.info("admin %s %s entry %s in %s", user, "updated" if draft.original else "added", entry.id, path)
    verb = "Updated" if draft.original else "Saved"
    await message.reply_text(
        f"✅ {verb} <code>{esc(entry.id)}</code> in <code>{esc(_shown_path(path))}</code>. It answers now, "
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


async def on_cancel_button(update: Update, context: Context) -> None:
    if await refuse(update, context, "entry cancel"):
        return
    query = update.callback_query
    assert query is not None and query.data is not None
    draft = _draft(context)
    if draft is not None and draft.nonce == query.data.removeprefix("ex:"):
        drop_draft(context)
    await query.answer("Cancelled.")
    await _edit(_query_message(update), "Entry draft cancelled; nothing was saved.")


async def on_cancel(update: Update, context: Context) -> None:
    """/cancel while an entry draft is open."""
    drop_draft(context)
    assert update.message is not None
    await update.message.reply_text("Cancelled; nothing was saved.")


# ---------------------------------------------------------------- /add and /edit


def _start(context: Context, draft: EntryDraft) -> str:
    """Open a draft; an unfinished one (entry or broadcast) is discarded: one draft at a time."""
    assert context.user_data is not None
    dropped = context.user_data.pop(admin.DRAFT_KEY, None) is not None
    dropped = context.user_data.pop(DRAFT_KEY, None) is not None or dropped
    context.user_data[DRAFT_KEY] = draft
    return "(Your unfinished draft was discarded.)\n\n" if dropped else ""


async def on_add(update: Update, context: Context) -> None:
    if await refuse(update, context, "/add"):
        return
    assert update.message is not None
    draft = EntryDraft.new()
    note = _start(context, draft)
    await update.message.reply_text(note + prompt_html(draft))


async def start_edit(message: Message, context: Context, entry_id: str) -> None:
    data = context.bot_data
    entry = await asyncio.to_thread(_on_disk, _root(data), entry_id)
    if entry is None:
        close = [c.entry.id for c in data.kb.ranked(entry_id.replace("-", " "), limit=3)]
        hint = f" Did you mean: {', '.join(f'<code>{esc(i)}</code>' for i in close)}?" if close else ""
        await message.reply_text(f"No valid entry with id <code>{esc(entry_id)}</code> on disk.{hint}")
        return
    draft = EntryDraft.editing(entry)
    note = _start(context, draft)
    await reply_long(message, note + prompt_html(draft))


async def on_edit(update: Update, context: Context) -> None:
    if await refuse(update, context, "/edit"):
        return
    assert update.message is not None
    args = context.args or []
    if len(args) != 1 or not re.fullmatch(r"[a-z0-9-]{1,48}", args[0]):
        await update.message.reply_text("Usage: <code>/edit ENTRY-ID</code>, e.g. <code>/edit h1b-masters-cap</code>.")
        return
    await start_edit(update.message, context, args[0])


# ---------------------------------------------------------------- /delete


async def on_delete(update: Update, context: Context) -> None:
    """/delete ID: ask for confirmation with a button; nothing is removed before it is pressed."""
    if await refuse(update, context, "/delete"):
        return
    assert update.message is not None
    args = context.args or []
    if len(args) != 1 or not re.fullmatch(r"[a-z0-9-]{1,48}", args[0]):
        await update.message.reply_text("Usage: <code>/delete ENTRY-ID</code>, e.g. <code>/delete h1b-masters-cap</code>.")
        return
    entry_id = args[0]
    if _on_disk(_root(context.bot_data), entry_id) is None and context.bot_data.kb.base.get(entry_id) is None:
        await update.message.reply_text(f"No entry <code>{esc(entry_id)}</code>. Nothing to delete.")
        return
    keyboard = InlineKeyboardMarkup([[
        InlineKeyboardButton("🗑 Delete", callback_data=callback(f"ed:{entry_id}")),
        InlineKeyboardButton("Cancel", callback_data="edx"),
    ]])
    await update.message.reply_text(
        f"Delete <code>{esc(entry_id)}</code>? Its file is removed and the bot stops answering with it at once.",
        reply_markup=keyboard,
    )


async def on_delete_button(update: Update, context: Context) -> None:
    if await refuse(update, context, "entry delete"):
        return
    query = update.callback_query
    assert query is not None and query.data is not None
    message = _query_message(update)
    await query.answer()
    if query.data == "edx":
        await _edit(message, "Not deleted.")
        return
    entry_id = query.data.removeprefix("ed:")
    try:
        referring = await asyncio.to_thread(delete_entry, context.bot_data, entry_id)
    except NoSuchEntry:
        await _edit(message, f"No entry <code>{esc(entry_id)}</code> on disk (deleted meanwhile?). Nothing deleted.")
        return
    log.info("admin %s deleted entry %s", query.from_user.id, entry_id)
    text = f"🗑 Deleted <code>{esc(entry_id)}</code>: {len(context.bot_data.kb.base.entries)} entries now served."
    if referring:
        text += f"\nStill listed as related by: {esc(', '.join(referring))} (<code>visabot kb lint</code> reports them)."
    await _edit(message, text)


# ---------------------------------------------------------------- /gaps


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:5]


def gap_token(row: dict[str, object]) -> str:
    return f"{_b36(int(row['id']))}.{_key_hash(str(row['key']))}"  # type: ignore[call-overload]


def _gap(data: BotData, token: str) -> dict[str, object] | None:
    match = re.fullmatch(r"([0-9a-z]{1,8})\.([0-9a-f]{5})", token)
    if match is None:
        return None
    row = data.db.gap(int(match.group(1), 36))
    return row if row is not None and _key_hash(str(row["key"])) == match.group(2) else None


def _gap_html(row: dict[str, object], status: str = "") -> str:
    last = str(row["last_seen"])[:10]
    head = status or f"<b>{row['count']}×</b> · last asked {esc(last)}"
    return f"{head}\n{esc(str(row['text']))}"


def _gap_keyboard(token: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[
            InlineKeyboardButton("➕ Add entry", callback_data=callback(f"gn:{token}")),
            InlineKeyboardButton("📎 Attach", callback_data=callback(f"ga:{token}")),
            InlineKeyboardButton("✖ Dismiss", callback_data=callback(f"gx:{token}")),
        ]]
    )


async def on_gaps(update: Update, context: Context) -> None:
    if await refuse(update, context, "/gaps"):
        return
    assert update.message is not None
    args = context.args or []
    limit = min(int(args[0]), MAX_GAPS) if args and args[0].isdigit() and int(args[0]) > 0 else DEFAULT_GAPS
    rows = context.bot_data.db.gaps(limit)
    if not rows:
        await update.message.reply_text("🎉 No unanswered questions are waiting.")
        return
    await update.message.reply_text(
        f"🕳 <b>Unanswered questions</b>, the {len(rows)} most frequent. <b>Add entry</b> starts /add with "
        "the question as its first alternate; <b>Attach</b> adds it to an existing entry; "
        "<b>Dismiss</b> removes it from this list."
    )
    for row in rows:
        await update.message.reply_text(_gap_html(row), reply_markup=_gap_keyboard(gap_token(row)))


async def on_gap_button(update: Update, context: Context) -> None:
    if await refuse(update, context, "a /gaps button"):
        return
    query = update.callback_query
    assert query is not None and query.data is not None
    action, _, rest = query.data.partition(":")
    token, _, entry_id = rest.partition(":")
    data = context.bot_data
    message = _query_message(update)
    row = _gap(data, token)
    if row is None or message is None:
        await query.answer("That question is no longer in the list.", show_alert=True)
        await _edit(message, None)
        return
    question = " ".join(str(row["text"]).split())
    said = user_text(question, _log_text(context))
    admin_id = query.from_user.id
    if action == "gx":
        data.db.remove_gap(int(row["id"]), str(row["key"]))  # type: ignore[call-overload]
        log.info("admin %s dismissed unanswered question %s", admin_id, said)
        await query.answer("Dismissed.")
        await _edit(message, _gap_html(row, "✖ <b>Dismissed</b>"))
    elif action == "gn":
        draft = EntryDraft.new(alternates=[question], gap=token)
        note = _start(context, draft)
        await query.answer()
        await message.reply_text(note + prompt_html(draft))
    elif action == "ga":
        choices = [c.entry for c in data.kb.ranked(question, limit=ATTACH_CHOICES)]
        if not choices:
            await query.answer("No entry is close to it: use Add entry, or /edit ID to add it by hand.", show_alert=True)
            return
        rows = [
            [InlineKeyboardButton(shorten(e.question), callback_data=f"gt:{token}:{e.id}")]
            for e in choices
            if len(f"gt:{token}:{e.id}".encode()) <= MAX_CALLBACK_BYTES
        ]
        rows.append([InlineKeyboardButton("⬅ Back", callback_data=callback(f"gb:{token}"))])
        await query.answer("Pick the entry it belongs to.")
        await _edit(message, _gap_html(row) + "\n\n📎 Attach it as an alternate of:", InlineKeyboardMarkup(rows))
    elif action == "gb":
        await query.answer()
        await _edit(message, _gap_html(row), _gap_keyboard(token))
    elif action == "gt":
        await _attach(update, context, row, question, entry_id)


async def _attach(update: Update, context: Context, row: dict[str, object], question: str, entry_id: str) -> None:
    query = update.callback_query
    message = _query_message(update)
    assert query is not None and message is not None
    data = context.bot_data
    try:
        entry, changed = await asyncio.to_thread(attach_alternate, data, entry_id, question)
    except KnowledgeError as exc:
        await query.answer("Not attached: the knowledge base would be invalid.", show_alert=True)
        await reply_long(message, f"❌ Not attached, nothing was written:\n{problems_html(exc.problems, _root(data))}")
        return
    if entry is None:
        await query.answer("That entry no longer exists.", show_alert=True)
        return
    data.db.remove_gap(int(row["id"]), str(row["key"]))  # type: ignore[call-overload]
    log.info("admin %s attached unanswered question %s to %s", query.from_user.id, user_text(question, _log_text(context)), entry.id)
    result = data.kb.match(question)
    if result.outcome is Outcome.ANSWER and result.entry is not None and result.entry.id == entry.id:
        effect = "It now gets this answer."
    else:
        got = result.entry.id if result.entry is not None else result.outcome.value
        effect = f"Note: it still gets <i>{esc(got)}</i>; check with <code>visabot kb search</code> and <code>kb lint</code>."
    status = f"📎 <b>Attached</b> to <code>{esc(entry.id)}</code>." if changed else (
        f"📎 Already an alternate of <code>{esc(entry.id)}</code>; removed from the list."
    )
    await query.answer("Attached." if changed else "Already there.")
    await _edit(message, _gap_html(row, f"{status} {effect}"))


# ---------------------------------------------------------------- /feedback and /reload


async def on_feedback(update: Update, context: Context) -> None:
    if await refuse(update, context, "/feedback"):
        return
    assert update.message is not None
    data = context.bot_data
    rows = data.db.most_downvoted(10)
    if not rows:
        await update.message.reply_text("No 👎 so far.")
        return
    await update.message.reply_text(f"👎 <b>Answers with the most 👎</b> ({len(rows)}), with the questions that led to them.")
    for entry_id, down, up, questions in rows:
        entry = data.kb.base.get(entry_id)
        title = esc(entry.question) if entry else "<i>no longer in the knowledge base</i>"
        asked = "\n".join(f"• {esc(shorten(' '.join(q.split()), 200))}" for q in questions) or "<i>no question recorded</i>"
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("✏️ Edit", callback_data=callback(f"fe:{entry_id}"))]]) if entry else None
        await update.message.reply_text(
            f"👎 {down} · 👍 {up} · <code>{esc(entry_id)}</code>\n<b>{title}</b>\n\nAsked as:\n{asked}", reply_markup=markup
        )


async def on_feedback_edit(update: Update, context: Context) -> None:
    if await refuse(update, context, "a /feedback button"):
        return
    query = update.callback_query
    message = _query_message(update)
    assert query is not None and query.data is not None
    await query.answer()
    if message is not None:
        await start_edit(message, context, query.data.removeprefix("fe:"))


async def on_reload(update: Update, context: Context) -> None:
    if await refuse(update, context, "/reload"):
        return
    assert update.message is not None
    data = context.bot_data
    before = len(data.kb.base.entries)
    problems = await asyncio.to_thread(reload_from_disk, data)
    if problems:
        await reply_long(
            update.message,
            f"❌ <b>Reload refused</b>: {len(problems)} problem(s) on disk.\n{problems_html(problems, _root(data))}\n\n"
            f"The previous knowledge base ({before} entries) keeps serving.",
        )
        return
    log.info("admin %s reloaded the knowledge base", update.message.from_user.id if update.message.from_user else "?")
    base = data.kb.base
    text = f"✅ Reloaded: {len(base.entries)} entries (before: {before})."
    if base.skipped:
        text += (
            f"\n\n⚠️ {len(base.skipped)} problem(s) on disk; the files named were left out:\n"
            f"{problems_html(base.skipped, _root(data))}"
        )
    await reply_long(update.message, text)
