"""👁 Watch an answer: one message to each watcher when the entry's answer, status or history changes.

A user who relies on an answer ("is the $100,000 payment one-time?") wants to hear when it moves,
not to re-ask every week. A watch stores only the chat id (the address) and the entry id.

Changes are found by comparing, per watched entry, a fingerprint of its answer, status and history
with the one its watchers were last told about (`watched_versions`). That runs after every reload
of the knowledge base (an /edit save, /reload, `visabot kb reload`, /changes' Mark verified) and
at start-up, so an entry changed while the bot was down is noticed too. Each change becomes a
broadcast in the outbox (bot/delivery/outbox.py) to that entry's watchers, one per reply language, so the
broadcast engine's pace, 429 handling and 403 clean-up apply and a crash neither loses nor repeats
a notice. The notice's idempotency key names the entry and its version: a notice created just
before a crash is found again, not created twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from bot.delivery.outbox import WATCH_NOTICE, Outbox
from bot.i18n import Lang, entry_text, status_badge, t
from bot.replies.telegram_view import esc
from bot.storage import Storage
from knowledge.loader import KnowledgeBase
from knowledge.model import Entry, HistoryEvent, Status

log = logging.getLogger(__name__)
_NOTIFYING = threading.Lock()  # reloads run in worker threads and on the loop (SIGHUP): one at a time


def _history_keys(entry: Entry) -> list[str]:
    return [f"{h.date.isoformat()} {h.change}" for h in entry.history]


def entry_fingerprint(entry: Entry) -> str:
    """What a watcher is told about: the answer, the status and the history (with sources)."""
    history = [[h.date.isoformat(), h.change, h.source.url] for h in entry.history]
    payload = json.dumps([entry.answer, entry.status.value, history], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Change:
    entry: Entry
    old_status: Status
    new_history: tuple[HistoryEvent, ...]
    answer_changed: bool
    version: int


class Watches:
    """The `watches` table and the versions their watchers were last told about."""

    def __init__(self, storage: Storage):
        self.storage = storage
        self.db = storage.db

    def watching(self, chat_id: int, entry_id: str) -> bool:
        row = self.db.execute("SELECT 1 FROM watches WHERE chat_id = ? AND entry_id = ?", [chat_id, entry_id]).fetchone()
        return row is not None

    def of_chat(self, chat_id: int) -> list[str]:
        rows = self.db.execute("SELECT entry_id FROM watches WHERE chat_id = ? ORDER BY rowid", [chat_id]).fetchall()
        return [r[0] for r in rows]

    def watchers(self, entry_id: str) -> list[int]:
        rows = self.db.execute("SELECT chat_id FROM watches WHERE entry_id = ? ORDER BY chat_id", [entry_id]).fetchall()
        return [r[0] for r in rows]

    def add(self, chat_id: int, entry: Entry) -> None:
        """Watch `entry` as it is now: only later changes are announced. The entry's version row
        is kept when nobody watches (it holds no user data), so its version numbers, part of each
        notice's idempotency key, never repeat; the first new watcher brings it up to date."""
        with self.storage.transaction():
            self.db.execute("INSERT OR IGNORE INTO watches (chat_id, entry_id) VALUES (?, ?)", [chat_id, entry.id])
            self.db.execute(
                "INSERT INTO watched_versions (entry_id, fingerprint, status, answer, history, version)"
                " VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT(entry_id) DO UPDATE SET fingerprint = excluded.fingerprint,"
                " status = excluded.status, answer = excluded.answer, history = excluded.history"
                " WHERE NOT EXISTS (SELECT 1 FROM watches WHERE entry_id = excluded.entry_id AND chat_id != ?)",
                [entry.id, entry_fingerprint(entry), entry.status.value, entry.answer, json.dumps(_history_keys(entry)),
                 chat_id],
            )

    def remove(self, chat_id: int, entry_id: str) -> bool:
        with self.storage.transaction():
            removed = self.db.execute("DELETE FROM watches WHERE chat_id = ? AND entry_id = ?", [chat_id, entry_id]).rowcount
        return bool(removed)

    def forget_chat(self, chat_id: int) -> int:
        """A chat that blocked the bot: nothing can reach it any more."""
        with self.storage.transaction():
            removed = self.db.execute("DELETE FROM watches WHERE chat_id = ?", [chat_id]).rowcount
        return int(removed)

    def changes(self, base: KnowledgeBase) -> list[Change]:
        """Watched entries whose answer, status or history differ from what their watchers were
        last told. An entry missing from `base` (deleted, or a file skipped as invalid) is left alone."""
        rows = self.db.execute(
            "SELECT entry_id, fingerprint, status, answer, history, version FROM watched_versions"
            " WHERE entry_id IN (SELECT entry_id FROM watches) ORDER BY entry_id"
        ).fetchall()
        found = []
        for entry_id, fingerprint, status, answer, history, version in rows:
            entry = base.get(entry_id)
            if entry is None or entry_fingerprint(entry) == fingerprint:
                continue
            told = set(json.loads(history))
            new = tuple(h for h, key in zip(entry.history, _history_keys(entry), strict=True) if key not in told)
            found.append(Change(entry, Status(status), new, entry.answer != answer, int(version) + 1))
        return found

    def told(self, change: Change) -> None:
        """Record that the watchers were told about `change` (after its notices are queued)."""
        entry = change.entry
        with self.storage.transaction():
            self.db.execute(
                "UPDATE watched_versions SET fingerprint = ?, status = ?, answer = ?, history = ?, version = ?"
                " WHERE entry_id = ?",
                [entry_fingerprint(entry), entry.status.value, entry.answer, json.dumps(_history_keys(entry)),
                 change.version, entry.id],
            )


def notice_html(change: Change, lang: Lang, base: KnowledgeBase) -> str:
    """The one message a watcher gets: what changed (old → new status, the new history lines,
    the new answer) and how to stop."""
    entry = change.entry
    text = entry_text(entry, lang, base.chinese)
    parts = [f"👁 <b>{esc(t('watch.changed', lang))}</b>\n<b>{esc(text.question)}</b>"]
    if change.old_status is not entry.status:
        old, new = status_badge(change.old_status, lang), status_badge(entry.status, lang)
        parts.append(esc(t("watch.status", lang, old=old, new=new)))
    if change.new_history:
        lines = "\n".join(
            f'• {h.date.isoformat()}: {esc(h.change)} (<a href="{esc(h.source.url)}">{esc(h.source.publisher)}</a>)'
            for h in change.new_history
        )
        parts.append(f"🕓 {esc(t('watch.new_history', lang))}\n{lines}")
    if change.answer_changed:
        note = f"<i>{esc(text.fallback_note)}</i>\n" if text.fallback_note else ""
        parts.append(f"{esc(t('watch.new_answer', lang))}\n{note}{esc(text.answer)}")
    if len(parts) == 1:  # only a history line's wording or source was corrected
        parts.append(esc(t("watch.corrected", lang)))
    parts.append(f"<i>{esc(t('watch.footer', lang))}</i>")
    return "\n\n".join(parts)


def _language(storage: Storage, chat_id: int) -> Lang:
    """A watch stores no language: the watcher's /language choice, else English."""
    return Lang.ZH if storage.language(chat_id) == "zh" else Lang.EN


def notify_watchers(storage: Storage, base: KnowledgeBase, start: Callable[[int], object]) -> list[int]:
    """Queue one notice per changed watched entry and reply language, start delivering each with
    `start(broadcast_id)`; returns the broadcast ids created."""
    created = []
    with _NOTIFYING:
        watches, outbox = Watches(storage), Outbox(storage)
        for change in watches.changes(base):
            by_lang: dict[Lang, list[int]] = {}
            for chat_id in watches.watchers(change.entry.id):
                by_lang.setdefault(_language(storage, chat_id), []).append(chat_id)
            for lang, chats in by_lang.items():
                broadcast, new = outbox.create(
                    f"watch:{change.entry.id}:{change.version}:{lang.value}", topics=[WATCH_NOTICE],
                    html=notice_html(change, lang, base), recipients=chats, entry_ids=[change.entry.id],
                )
                if new:
                    created.append(broadcast.id)
            watches.told(change)
            log.info("entry %s changed: notice v%d for %d watcher(s)", change.entry.id, change.version,
                     sum(len(c) for c in by_lang.values()))
    for broadcast_id in created:
        start(broadcast_id)
    return created
