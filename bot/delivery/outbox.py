"""The persisted outbox: one row per (broadcast, recipient), so no crash loses or repeats a send.

States: pending → sending → sent | blocked | failed. A row is marked `sending` (committed) before
its request goes out and `sent` after Telegram confirms, so after a crash only rows still in
`sending` are in doubt; resuming re-sends them and reports how many (possible duplicates).
During a delivery these writes go through a `Ledger`, which groups them into few commits.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot.storage import Storage, now

PENDING, SENDING, SENT, BLOCKED, FAILED = "pending", "sending", "sent", "blocked", "failed"
STATES = (PENDING, SENDING, SENT, BLOCKED, FAILED)
# Broadcast status
QUEUED, RUNNING, DONE, CANCELLED = "queued", "running", "done", "cancelled"
# The `topics` of a 👁 watch notice (bot/delivery/watch.py): sent to an entry's watchers, not to subscribers,
# and its html is the whole message (no policy-update header or /unsubscribe footer).
WATCH_NOTICE = "watch"


@dataclass(frozen=True)
class Broadcast:
    id: int
    idempotency_key: str
    topics: list[str]
    html: str
    entry_ids: list[str]
    paid: bool
    status: str
    created_by: int | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    progress_chat_id: int | None
    progress_message_id: int | None
    resumed_in_flight: int
    lease_owner: str | None
    lease_until: float | None
    html_zh: str | None = None  # the same update in simplified Chinese, when the admin wrote one


@dataclass(frozen=True)
class Progress:
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def remaining(self) -> int:
        return self.counts.get(PENDING, 0) + self.counts.get(SENDING, 0)

    def __getitem__(self, state: str) -> int:
        return self.counts.get(state, 0)


Mark = tuple[int, str, str | None, bool]  # chat_id, state, error, counts as an attempt


def _row_to_broadcast(row: dict) -> Broadcast:  # type: ignore[type-arg]
    return Broadcast(
        **{
            **row,
            "topics": json.loads(row["topics"]),
            "entry_ids": json.loads(row["entry_ids"]),
            "paid": bool(row["paid"]),
        }
    )


class Outbox:
    def __init__(self, storage: Storage):
        self.storage = storage
        self.db = storage.db

    def create(
        self,
        key: str,
        *,
        topics: list[str],
        html: str,
        recipients: list[int],
        entry_ids: list[str] | None = None,
        paid: bool = False,
        created_by: int | None = None,
        html_zh: str | None = None,
    ) -> tuple[Broadcast, bool]:
        """Create a broadcast and its outbox rows once per idempotency key.

        Returns (broadcast, created); a second call with the same key returns the first one.
        """
        with self.storage.transaction():
            existing = self.by_key(key)
            if existing is not None:
                return existing, False
            cursor = self.db.execute(
                "INSERT INTO broadcasts (idempotency_key, topics, html, html_zh, entry_ids, paid, status, created_by,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [key, json.dumps(topics), html, html_zh, json.dumps(entry_ids or []), int(paid), QUEUED, created_by, now()],
            )
            broadcast_id = int(cursor.lastrowid or 0)
            stamp = now()
            self.db.conn.executemany(
                "INSERT INTO outbox (broadcast_id, chat_id, state, updated_at) VALUES (?, ?, ?, ?)",
                [(broadcast_id, chat_id, PENDING, stamp) for chat_id in recipients],
            )
        created = self.get(broadcast_id)
        assert created is not None
        return created, True

    def by_key(self, key: str) -> Broadcast | None:
        rows = list(self.db.query("SELECT * FROM broadcasts WHERE idempotency_key = ?", [key]))
        return _row_to_broadcast(rows[0]) if rows else None

    def get(self, broadcast_id: int) -> Broadcast | None:
        rows = list(self.db.query("SELECT * FROM broadcasts WHERE id = ?", [broadcast_id]))
        return _row_to_broadcast(rows[0]) if rows else None

    def recent(self, limit: int = 10) -> list[Broadcast]:
        return [_row_to_broadcast(r) for r in self.db.query("SELECT * FROM broadcasts ORDER BY id DESC LIMIT ?", [limit])]

    def unfinished(self) -> list[Broadcast]:
        rows = self.db.query("SELECT * FROM broadcasts WHERE status IN (?, ?) ORDER BY id", [QUEUED, RUNNING])
        return [_row_to_broadcast(r) for r in rows]

    def set_status(self, broadcast_id: int, status: str) -> None:
        column = {RUNNING: "started_at", DONE: "finished_at", CANCELLED: "finished_at"}.get(status)
        with self.storage.transaction():
            self.db.execute("UPDATE broadcasts SET status = ? WHERE id = ?", [status, broadcast_id])
            if column:
                self.db.execute(f"UPDATE broadcasts SET {column} = COALESCE({column}, ?) WHERE id = ?", [now(), broadcast_id])

    def set_progress_message(self, broadcast_id: int, chat_id: int, message_id: int) -> None:
        with self.storage.transaction():
            self.db.execute(
                "UPDATE broadcasts SET progress_chat_id = ?, progress_message_id = ? WHERE id = ?",
                [chat_id, message_id, broadcast_id],
            )

    def recover_in_flight(self, broadcast_id: int) -> int:
        """After a crash: rows left in `sending` may or may not have arrived (in flight, or
        answered moments before and not yet committed, see `Ledger`). They go back to `pending`
        (at-least-once) and are counted, so the report can say how many might repeat."""
        with self.storage.transaction():
            cursor = self.db.execute(
                "UPDATE outbox SET state = ?, updated_at = ? WHERE broadcast_id = ? AND state = ?",
                [PENDING, now(), broadcast_id, SENDING],
            )
            if cursor.rowcount:
                self.db.execute(
                    "UPDATE broadcasts SET resumed_in_flight = resumed_in_flight + ? WHERE id = ?",
                    [cursor.rowcount, broadcast_id],
                )
        return int(cursor.rowcount)

    def claim(self, broadcast_id: int, owner: str, seconds: float, owner_alive: Callable[[str], bool]) -> bool:
        """Take (or renew) the right to deliver this broadcast, so two processes never run it at
        once. A lease whose owner died (SIGKILL) can be taken at once; otherwise it must expire."""
        with self.storage.transaction():
            row = self.db.execute(
                "SELECT lease_owner, lease_until FROM broadcasts WHERE id = ?", [broadcast_id]
            ).fetchone()
            if row is None:
                return False
            holder, until = row
            free = holder is None or holder == owner or (until or 0) < time.time() or not owner_alive(holder)
            if free:
                self.db.execute(
                    "UPDATE broadcasts SET lease_owner = ?, lease_until = ? WHERE id = ?",
                    [owner, time.time() + seconds, broadcast_id],
                )
        return free

    def release(self, broadcast_id: int, owner: str) -> None:
        with self.storage.transaction():
            self.db.execute(
                "UPDATE broadcasts SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?",
                [broadcast_id, owner],
            )

    def pending(self, broadcast_id: int, limit: int, after: int | None = None) -> list[int]:
        """Pending recipients in chat-id order, from just after `after` (a cursor for paging)."""
        rows = self.db.execute(
            "SELECT chat_id FROM outbox WHERE broadcast_id = ? AND state = ? AND chat_id > ?"
            " ORDER BY chat_id LIMIT ?",
            [broadcast_id, PENDING, -(2**63) if after is None else after, limit],
        ).fetchall()
        return [r[0] for r in rows]

    def mark_many(self, broadcast_id: int, marks: Iterable[Mark]) -> None:
        """Apply (chat_id, state, error, counts as an attempt) marks in order, in one transaction."""
        stamp = now()
        with self.storage.transaction():
            self.db.conn.executemany(
                "UPDATE outbox SET state = ?, last_error = COALESCE(?, last_error), updated_at = ?,"
                " attempts = attempts + ? WHERE broadcast_id = ? AND chat_id = ?",
                [(state, error, stamp, int(attempt), broadcast_id, chat_id) for chat_id, state, error, attempt in marks],
            )

    def progress(self, broadcast_id: int) -> Progress:
        rows = self.db.execute(
            "SELECT state, COUNT(*) FROM outbox WHERE broadcast_id = ? GROUP BY state", [broadcast_id]
        ).fetchall()
        return Progress({r[0]: r[1] for r in rows})

    def failures(self, broadcast_id: int, limit: int = 20) -> list[tuple[int, str, str]]:
        rows = self.db.execute(
            "SELECT chat_id, state, last_error FROM outbox WHERE broadcast_id = ? AND state IN (?, ?)"
            " ORDER BY updated_at LIMIT ?",
            [broadcast_id, BLOCKED, FAILED, limit],
        ).fetchall()
        return [(r[0], r[1], r[2] or "") for r in rows]


class Ledger:
    """The outbox writes of one running delivery, grouped into few commits.

    Two commits per message (`sending`, then `sent`) cost about 0.15 ms of CPU, a sixth of what
    a message may cost at 1,000 a second; in groups of 10 it is under 0.03 ms. The rule that
    makes a crash safe is kept: a row is committed as `sending` before its request goes out
    (`start`), so a row marked sent is never sent again. What changes:
    - `start` commits a whole group of rows at once;
    - final states are buffered (`finish`) and committed with the next `start`, or within
      `flush_delay` when nothing starts (a 429 pause, the last messages).
    A row whose answer has arrived but is not committed yet is still `sending`: after a crash
    it is counted with the ones in flight and re-sent, never silently.
    """

    def __init__(self, outbox: Outbox, broadcast_id: int, flush_delay: float = 0.05):
        self.outbox = outbox
        self.broadcast_id = broadcast_id
        self.flush_delay = flush_delay
        self._finished: list[Mark] = []
        self._timer: asyncio.TimerHandle | None = None

    def start(self, chat_ids: Iterable[int]) -> None:
        """Commit these rows as `sending` (with any buffered final states); send only after."""
        self._cancel_timer()
        self.outbox.mark_many(self.broadcast_id, [*self._finished, *((c, SENDING, None, False) for c in chat_ids)])
        self._finished.clear()  # only once committed: a failed commit keeps them for the next try

    def finish(self, chat_id: int, state: str, error: str | None = None, *, attempt: bool = True) -> None:
        """Record an outcome; it is committed soon, with the next group or by a timer."""
        self._finished.append((chat_id, state, error, attempt))
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.flush_delay, self.flush)

    def flush(self) -> None:
        self._cancel_timer()
        if self._finished:
            self.outbox.mark_many(self.broadcast_id, self._finished)
            self._finished.clear()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
