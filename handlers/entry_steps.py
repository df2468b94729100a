"""An entry draft (/add, /edit) and how each of its steps is shown to the maintainer.

The draft lives in the maintainer's draft slot (bot/runtime/drafts.py); handlers/entry_drafts.py
takes the answers. Prompts say what each step wants and, for /edit, what the entry holds now. The
English steps come first, then the Chinese ones (knowledge/zh/<id>.yaml), each showing the
English it translates: Save publishes both languages together or nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.replies.plain import source_date
from bot.replies.telegram_view import STATUS_BADGES, TOPIC_LABELS, esc
from bot.runtime import drafts
from bot.runtime.context import Context
from handlers.maintainer_ui import callback
from knowledge.authoring import EntryFields
from knowledge.bilingual import ChineseText, keepable
from knowledge.model import MAX_ANSWER_CHARS, MIN_ALTERNATES, Entry, Source, Status, Topic

ZH_STAGES = ("zh_question", "zh_answer", "zh_caveats")
STEPS = ("question", "alternates", "answer", "caveats", "sources", "topic", "status", *ZH_STAGES)
TEXT_STAGES = (*STEPS[:5], *ZH_STAGES)
MORE_ALTERNATES = "more-alternates"  # /edit's own step: only add phrasings, then the preview
LISTS = ("alternates", "caveats", "sources")


@dataclass
class EntryDraft(EntryFields):
    nonce: str = ""
    original: Entry | None = None  # set for /edit: the entry as it was on disk when the edit began
    stage: str = "question"
    replaced: set[str] = field(default_factory=set)  # /edit: lists whose new values have begun
    # The /gaps rows (row id, key) this draft answers: removed from the list on save.
    gaps: list[tuple[int, str]] = field(default_factory=list)
    original_zh: ChineseText | None = None  # /edit: the entry's Chinese on disk when the edit began
    # The Chinese caveats step: each English caveat's shared Chinese, None where one is to be typed.
    zh_shared: list[str | None] = field(default_factory=list)
    zh_typed: list[str] = field(default_factory=list)  # the caveats typed so far at that step

    @classmethod
    def new(cls, **values: object) -> EntryDraft:
        return cls(nonce=secrets.token_hex(4), **values)  # type: ignore[arg-type]

    @classmethod
    def editing(cls, entry: Entry, zh: ChineseText | None = None) -> EntryDraft:
        return cls.new(original=entry, original_zh=zh, **vars(EntryFields.of(entry)))

    def can_keep_chinese(self, part: str) -> bool:
        """A Chinese step may be skipped with "keep": its text was typed in this draft (Save sent
        it back), or the Chinese on disk still translates this part's English."""
        return getattr(self.zh, part) is not None or keepable(
            part, getattr(self, part), self.original, self.original_zh
        )

    def chinese_now(self, part: str) -> str | list[str] | None:
        """The Chinese this part holds now: typed in this draft, else on disk."""
        typed = getattr(self.zh, part)
        if typed is not None:
            return typed  # type: ignore[no-any-return]
        return getattr(self.original_zh, part) if self.original_zh is not None else None


def source_line(source: Source) -> str:
    return f"{source.title} | {source.publisher} | {source.url} | {source_date(source)} | {source.tier.value}"


def has_draft(context: Context) -> bool:
    return drafts.current(context, EntryDraft) is not None


def has_open_draft(context: Context) -> bool:
    """True while the draft waits for text (its later steps are buttons)."""
    draft = drafts.current(context, EntryDraft)
    return draft is not None and (draft.stage in TEXT_STAGES or draft.stage == MORE_ALTERNATES)


def drop_draft(context: Context) -> bool:
    return drafts.drop(context, EntryDraft)


def now_html(draft: EntryDraft) -> str:
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


def chinese_html(draft: EntryDraft) -> str:
    """A Chinese step: the English it translates, and the Chinese it holds now, if any."""
    part = draft.stage.removeprefix("zh_")
    if part == "caveats":
        todo = [c for c, zh in zip(draft.caveats, draft.zh_shared, strict=True) if zh is None]
        english = "\n".join(f"{n}. {esc(c)}" for n, c in enumerate(todo, 1))
        shared = len(draft.caveats) - len(todo)
        if shared:
            english += (
                f"\n({shared} shared caveat(s) get their Chinese from knowledge/caveats.yaml.)"
            )
    else:
        english = esc(getattr(draft, part))
    text = f"<b>English:</b>\n{english}"
    now = draft.chinese_now(part)
    if now is not None:
        shown = "\n".join(f"• {esc(c)}" for c in now) if isinstance(now, list) else esc(now)
        if draft.can_keep_chinese(part):
            text += f"\n\n<b>Now:</b>\n{shown}\n\nSend <code>keep</code> to keep {'them' if part == 'caveats' else 'it'}."
        else:
            text += f"\n\n<b>Now</b> (written for the English as it was, which changed: write it anew):\n{shown}"
    return (
        text
        + "\n\nOr <code>later</code>: go to the preview; Save asks for the Chinese before it publishes."
    )


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
        "zh_question": "中文 the <b>question in simplified Chinese</b>.",
        "zh_answer": (
            "中文 the <b>answer in simplified Chinese</b>, with the same numbers and dates as the English "
            "(10万美元 = $100,000, 2025年9月21日 = 21 Sep 2025); a blank line starts a new paragraph."
        ),
        "zh_caveats": (
            f"中文 the <b>caveats in simplified Chinese</b>: {draft.zh_shared.count(None)}, one per message or one "
            "per line, in the order of the English ones below."
        ),
    }[draft.stage]
    text = head + body
    if draft.stage == "question" and draft.alternates and draft.original is None:
        asked = "\n".join(f"<i>{esc(a)}</i>" for a in draft.alternates)
        what = (
            "the user's question is already its first alternate"
            if len(draft.alternates) == 1
            else (f"the users' {len(draft.alternates)} questions are already its first alternates")
        )
        text += f"\n\nFrom /gaps: {what}:\n{asked}"
    if draft.stage == "alternates" and draft.alternates and draft.original is None:
        listed = "\n".join(f"• {esc(a)}" for a in draft.alternates)
        text += f"\n\nAlready in ({len(draft.alternates)}):\n{listed}"
    if draft.stage in ZH_STAGES:
        text += "\n\n" + chinese_html(draft)
    elif draft.original is not None:
        text += "\n\n" + now_html(draft)
    return text + "\n\n/cancel stops; nothing is saved until you press Save."


def choice_keyboard(draft: EntryDraft, kind: str) -> InlineKeyboardMarkup:
    if kind == "topic":
        options = [(t.value, TOPIC_LABELS[t], draft.topic is t) for t in Topic]
    else:
        options = [(s.value, STATUS_BADGES[s], draft.status is s) for s in Status]
    prefix = "et" if kind == "topic" else "es"
    rows = [
        [
            InlineKeyboardButton(
                ("☑️ " if current and draft.original else "") + label,
                callback_data=callback(f"{prefix}:{draft.nonce}:{value}"),
            )
        ]
        for value, label, current in options
    ]
    rows.append([InlineKeyboardButton("Cancel", callback_data=callback(f"ex:{draft.nonce}"))])
    return InlineKeyboardMarkup(rows)


def choice_text(draft: EntryDraft, kind: str) -> str:
    step = STEPS.index(kind) + 1
    what = f"✏️ <b>Editing {esc(draft.original.id)}</b>" if draft.original else "➕ <b>New entry</b>"
    body = (
        "pick the <b>topic</b>."
        if kind == "topic"
        else (
            "how firmly is it established? Pick the <b>status</b>: <i>official</i> when the authority "
            "states it; <i>reported</i> when only media or law firms do; <i>unclear</i> when sources "
            "conflict; <i>pending</i> when the authority has not published it."
        )
    )
    keep = " (☑️ marks the current one)" if draft.original else ""
    return f"{what} · step {step} of {len(STEPS)}: {body}{keep}"


def more_alternates_html(draft: EntryDraft) -> str:
    assert draft.original is not None
    listed = "\n".join(f"• {esc(a)}" for a in draft.alternates)
    return (
        f"✏️ <b>Editing {esc(draft.original.id)}</b> · add alternates: send new phrasings, one per message "
        f"or one per line, then <code>done</code> for the preview. The rest of the entry stays as it is.\n\n"
        f"Already in ({len(draft.alternates)}):\n{listed}\n\n/cancel stops; nothing is saved until you press Save."
    )
