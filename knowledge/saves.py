"""Writes that change what a running bot serves: save an authored entry, attach an alternate,
delete an entry, reload the folder. Used by the maintainers' Telegram handlers.

Each goes through knowledge.writer (validated against the whole knowledge base, under a file
lock, atomic), so two maintainers can neither overwrite each other nor get the same id (a taken
id gets a -2, -3… suffix). The knowledge base the writer returns is swapped into the running
bot at once, so the entry answers without a restart. Writes and reloads of this process run one
at a time (WRITE_LOCK), so a slower save can never swap an older knowledge base in over a newer
one. Blocking: call them in a worker thread.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Protocol

from knowledge.authoring import EntryFields, Review, build_entry, review_entry, slug_for, unique_id
from knowledge.bilingual import translation
from knowledge.caveats import load_shared_caveats
from knowledge.loader import ENTRIES_DIRNAME, KnowledgeBase, Problem, parse_entry_text
from knowledge.matcher import Matcher
from knowledge.model import Entry
from knowledge.writer import (
    EntryExists,
    add_entry,
    chinese_on_disk,
    entry_path,
    remove_entry,
    update_entry,
)

# Knowledge writes and reloads of this process, one at a time (see the module docstring).
WRITE_LOCK = threading.Lock()


class Served(Protocol):
    """What a running bot serves (bot.runtime.context.BotData): its matcher, and a way to swap it."""

    @property
    def matcher(self) -> Matcher: ...

    def reload(self, base: KnowledgeBase | None = None) -> list[Problem]: ...


class EditConflict(Exception):
    """The entry changed on disk after the /edit started; saving would overwrite that change."""


class NotReviewed(Exception):
    """The entry fails `kb lint`'s checks (errors), or has warnings not yet confirmed."""

    def __init__(self, review: Review):
        self.review = review
        super().__init__(f"{len(review.errors)} error(s), {len(review.warnings)} warning(s)")


def on_disk(root: Path, entry_id: str) -> Entry | None:
    """The entry as its file says now (None when there is no valid file with that id)."""
    for path in (root / ENTRIES_DIRNAME).glob(f"*/{entry_id}.yaml"):
        entry, _ = parse_entry_text(path.read_text(encoding="utf-8"), path)
        return entry
    return None


def taken_ids(served: Served, root: Path) -> set[str]:
    """Ids in use: served ones and any file on disk (e.g. written by `visabot kb add`, not yet reloaded)."""
    return set(served.matcher.base.by_id) | {
        p.stem for p in (root / ENTRIES_DIRNAME).glob("*/*.yaml")
    }


def new_id(served: Served, root: Path, fields: EntryFields) -> str:
    """The id a new entry with these fields gets now."""
    assert fields.topic is not None
    return unique_id(slug_for(fields.question, fields.topic), taken_ids(served, root))


def _review(
    served: Served, entry: Entry, today: dt.date, replaces: str | None, confirmed: bool
) -> None:
    review = review_entry(served.matcher.base, entry, today, replaces)
    if review.errors or (review.warnings and not confirmed):
        raise NotReviewed(review)


def save_entry(
    served: Served,
    root: Path,
    fields: EntryFields,
    original: Entry | None,
    today: dt.date,
    confirmed: bool = False,
) -> tuple[Entry, Path]:
    """Check the entry as `kb lint` would with it included: its Chinese first (missing, kept
    where the English changed, or other numbers: knowledge.bilingual.Untranslated), then the
    other errors (NotReviewed; warnings too unless `confirmed`). Write it with its Chinese (a new
    one, or over `original` when it is unchanged on disk, else EditConflict), and serve the
    knowledge base that now holds it."""
    shared = load_shared_caveats(root)[0]
    with WRITE_LOCK:
        if original is not None:
            if on_disk(root, original.id) != original:
                raise EditConflict(original.id)
            entry = build_entry(fields, original.id, today, original)
            zh = translation(entry, fields.zh, shared, original, chinese_on_disk(root, original.id))
            _review(served, entry, today, original.id, confirmed)
            base = update_entry(root, entry, zh)
        else:
            for _ in range(10):
                entry = build_entry(fields, new_id(served, root, fields), today)
                zh = translation(entry, fields.zh, shared)
                _review(served, entry, today, None, confirmed)
                try:
                    base = add_entry(root, entry, zh)
                    break
                except EntryExists:  # another process wrote that id between our look and its lock
                    continue
            else:
                raise EntryExists(entry.id)
        served.reload(base)
    return entry, entry_path(root, entry)


def attach_alternates(
    served: Served, root: Path, entry_id: str, questions: list[str]
) -> tuple[Entry | None, list[str]]:
    """Add `questions` to an entry's alternates (read from disk, so no concurrent change is lost),
    skipping any it already has. Returns (the entry or None when it is gone, the ones added)."""
    with WRITE_LOCK:
        current = on_disk(root, entry_id)
        if current is None:
            return None, []
        known = {p.casefold() for p in (current.question, *current.alternates)}
        added = [q for q in dict.fromkeys(questions) if q.casefold() not in known]
        if not added:
            return current, []
        entry = Entry.model_validate(
            {**current.model_dump(), "alternates": [*current.alternates, *added]}
        )
        served.reload(update_entry(root, entry))
    return entry, added


def delete_entry(served: Served, root: Path, entry_id: str) -> list[str]:
    """Remove the entry's file and serve the base without it; the ids still naming it as related.
    Raises NoSuchEntry."""
    with WRITE_LOCK:
        base, referring = remove_entry(root, entry_id)
        served.reload(base)
    return referring


def reload_from_disk(served: Served) -> list[Problem]:
    """Serve the folder as it is on disk now; its problems when it cannot be served."""
    with WRITE_LOCK:
        return served.reload()
