"""SQLite storage through sqlite-utils: votes, the unanswered log and ask counts.

Privacy by design: no table holds a Telegram user id next to what the user asked or how they
voted. Votes are per-entry tallies; one vote per user per answer message (which may be changed)
is enforced by a guard in memory that expires (VoteGuard), so nothing on disk can tie a 👎's
question to its user.

Bookkeeping nobody asked for (tallies, ask counts, the unanswered log) is queued and written by a
background thread (Bookkeeper): a locked or full database never delays or breaks a reply.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import logging
import queue
import secrets
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import sqlite_utils

from knowledge.normalize import fold


def _v1_answers(db: sqlite_utils.Database) -> None:
    # A vote is keyed by a keyed hash of the voter (one vote per user per answer message, and
    # /forget can find them) — never by the Telegram user id itself.
    db.execute(
        "CREATE TABLE votes (voter TEXT NOT NULL, message_key TEXT NOT NULL, entry_id TEXT NOT NULL,"
        " up INTEGER NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (voter, message_key))"
    )
    db.execute("CREATE INDEX votes_entry ON votes (entry_id)")
    # The question that led to a 👎, for maintainers; no user is linked to it.
    db["downvoted_questions"].create({"entry_id": str, "question": str, "created_at": str})  # type: ignore[union-attr]
    db["unanswered"].create(  # type: ignore[union-attr]
        {"key": str, "text": str, "count": int, "first_seen": str, "last_seen": str}, pk="key"
    )
    db["asked"].create({"entry_id": str, "count": int}, pk="entry_id")  # type: ignore[union-attr]
    db["meta"].insert({"key": "receipt_key", "value": secrets.token_hex(32)})  # type: ignore[union-attr]


def _v2_broadcasts(db: sqlite_utils.Database) -> None:
    # Only the chat id is kept: it is the address a broadcast is sent to.
    db.execute(
        "CREATE TABLE subscriptions (chat_id INTEGER NOT NULL, topic TEXT NOT NULL, created_at TEXT NOT NULL,"
        " PRIMARY KEY (chat_id, topic))"
    )
    db.execute(
        "CREATE TABLE broadcasts (id INTEGER PRIMARY KEY, idempotency_key TEXT NOT NULL UNIQUE,"
        " topics TEXT NOT NULL, html TEXT NOT NULL, entry_ids TEXT NOT NULL, paid INTEGER NOT NULL,"
        " status TEXT NOT NULL, created_by INTEGER, created_at TEXT NOT NULL, started_at TEXT,"
        " finished_at TEXT, progress_chat_id INTEGER, progress_message_id INTEGER,"
        " resumed_in_flight INTEGER NOT NULL DEFAULT 0, lease_owner TEXT, lease_until REAL)"
    )
    db.execute(
        "CREATE TABLE outbox (broadcast_id INTEGER NOT NULL REFERENCES broadcasts(id), chat_id INTEGER NOT NULL,"
        " state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, updated_at TEXT NOT NULL,"
        " PRIMARY KEY (broadcast_id, chat_id))"
    )
    db.execute("CREATE INDEX outbox_state ON outbox (broadcast_id, state)")


def _v3_anonymous_votes(db: sqlite_utils.Database) -> None:
    # Votes become per-entry tallies and a 👎's question keeps only its day: the old voter hashes,
    # the hash key and the to-the-second timestamps could tie a question to its user.
    db.execute("CREATE TABLE vote_counts (entry_id TEXT PRIMARY KEY, up INTEGER NOT NULL, down INTEGER NOT NULL)")
    db.execute("INSERT INTO vote_counts SELECT entry_id, SUM(up), SUM(1 - up) FROM votes GROUP BY entry_id")
    db.execute("DROP TABLE votes")
    db.execute("CREATE TABLE downvoted_days (entry_id TEXT NOT NULL, question TEXT NOT NULL, day TEXT NOT NULL)")
    db.execute(
        "INSERT INTO downvoted_days SELECT entry_id, question, substr(created_at, 1, 10) FROM downvoted_questions"
        " ORDER BY created_at"
    )
    db.execute("DROP TABLE downvoted_questions")
    db.execute("ALTER TABLE downvoted_days RENAME TO downvoted_questions")
    db.execute("DELETE FROM meta WHERE key = 'receipt_key'")


def _v4_languages(db: sqlite_utils.Database) -> None:
    # /language: the one thing it needs, the user's choice; only stored when not "auto".
    db.execute("CREATE TABLE languages (user_id INTEGER PRIMARY KEY, choice TEXT NOT NULL)")


def _v5_source_checks(db: sqlite_utils.Database) -> None:
    # Source watch (bot/sources/watch.py): what each cited page looked like when last fetched.
    db.execute(
        "CREATE TABLE source_checks (url TEXT PRIMARY KEY, hash TEXT NOT NULL, etag TEXT, last_modified TEXT,"
        " checked_at TEXT NOT NULL, changed_at TEXT)"
    )


def _v6_watches(db: sqlite_utils.Database) -> None:
    # 👁 Watch (bot/delivery/watch.py): the chat to tell and the entry watched, nothing else.
    db.execute("CREATE TABLE watches (chat_id INTEGER NOT NULL, entry_id TEXT NOT NULL, PRIMARY KEY (chat_id, entry_id))")
    db.execute("CREATE INDEX watches_entry ON watches (entry_id)")
    # What each watched entry said when its watchers were last told (no user data): a change made
    # while the bot was down is noticed at the next start, and the notice can say old → new.
    db.execute(
        "CREATE TABLE watched_versions (entry_id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, status TEXT NOT NULL,"
        " answer TEXT NOT NULL, history TEXT NOT NULL, version INTEGER NOT NULL)"
    )



def _v7_broadcast_chinese(db: sqlite_utils.Database) -> None:
    # A broadcast may carry the same update in simplified Chinese, for subscribers whose /language is 中文.
    db.execute("ALTER TABLE broadcasts ADD COLUMN html_zh TEXT")


MIGRATIONS = (_v1_answers, _v2_broadcasts, _v3_anonymous_votes, _v4_languages, _v5_source_checks, _v6_watches, _v7_broadcast_chinese)
MAX_LOGGED_QUESTION_CHARS = 500

log = logging.getLogger(__name__)
Write = tuple[str, list[object]]  # one SQL statement and its parameters
MAX_PENDING_WRITES = 100_000  # beyond this (a database locked for hours) new bookkeeping is dropped
BATCH = 500
RETRY_SECONDS = 0.5
SETTLE_SECONDS = 1.0


class Bookkeeper:
    """Counters, the unanswered log and 👎 questions, written by one background thread.

    Why: a reply must never wait on a write nobody asked for. The bot's event loop only puts
    statements on a queue; this thread writes them in batches, one transaction each, on its own
    connection, so a database locked by another process (or a full disk) delays the numbers, not
    the replies. A locked database is retried until it frees; any other failure drops the batch.
    Either is logged once per streak, never with the user's text, and never reaches the user."""

    def __init__(self, path: str, shared: sqlite3.Connection):
        # ":memory:" is one database per connection: share the bot's (tests only).
        self._conn = shared if path == ":memory:" else sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._own = self._conn is not shared
        if self._own:
            self._conn.execute("PRAGMA busy_timeout=1000")
        self._queue: queue.SimpleQueue[Write | None] = queue.SimpleQueue()
        self._pending = 0
        self._failing = False
        self._idle = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="visabot-bookkeeping", daemon=True)
        self._thread.start()

    def put(self, sql: str, params: list[object]) -> None:
        with self._idle:
            if self._pending >= MAX_PENDING_WRITES:
                return
            self._pending += 1
        self._queue.put((sql, params))

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every queued write is written (or dropped); for shutdown and tests."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        """Flush what is queued (as far as the database allows), then stop the thread."""
        self._queue.put(None)
        self._thread.join()
        if self._own:
            self._conn.close()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            batch: list[Write] = []
            for item in [first, *self._drain()]:
                if item is None:
                    stopping = True
                else:
                    batch.append(item)
            if batch:
                self._write(batch, stopping)

    def _drain(self) -> list[Write | None]:
        items: list[Write | None] = []
        while len(items) < BATCH:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return items

    def _write(self, batch: list[Write], stopping: bool) -> None:
        while True:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    for sql, params in batch:
                        self._conn.execute(sql, params)
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
                if self._failing:
                    log.info("bookkeeping writes resumed")
                self._failing = False
                break
            except sqlite3.Error as exc:
                locked = "locked" in str(exc) or "busy" in str(exc)
                if not self._failing:  # the error class and message only: no user text
                    log.warning("bookkeeping write failed (%s: %s)%s", type(exc).__name__, exc,
                                "; retrying" if locked and not stopping else "; dropped")
                self._failing = True
                if not locked or stopping:
                    break
                time.sleep(RETRY_SECONDS)
        with self._idle:
            self._pending -= len(batch)
            self._idle.notify_all()


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


VOTE_GUARD_SECONDS = 2 * 24 * 3600  # answers older than this can be rated again (rarely matters)
VOTE_GUARD_MAX = 200_000


class VoteResult(enum.Enum):
    COUNTED = "counted"
    CHANGED = "changed"  # the user's earlier vote on the message, the other way, moved
    SAME = "same"  # the user had voted so already: nothing counted


class VoteGuard:
    """Which way each user voted on each answer message, in memory only: bounded and expiring, so
    nothing on disk says who voted, and memory does not grow with every vote ever cast. Knowing
    the direction (not just that a vote was cast) is what lets a user change a vote: the tallies
    then move by one each way."""

    def __init__(self, ttl: float = VOTE_GUARD_SECONDS, max_size: int = VOTE_GUARD_MAX):
        self.ttl, self.max_size = ttl, max_size
        self._seen: OrderedDict[tuple[int, int, int], tuple[float, bool]] = OrderedDict()

    def cast(self, user_id: int, chat_id: int, message_id: int, up: bool) -> bool | None:
        """Remember this vote; returns the user's previous vote on this message (None: none).
        A changed vote keeps the time of the first, so the guard still expires in order."""
        now = time.monotonic()
        while self._seen and (len(self._seen) >= self.max_size or now - next(iter(self._seen.values()))[0] > self.ttl):
            self._seen.popitem(last=False)
        key = (user_id, chat_id, message_id)
        first_at, previous = self._seen.get(key, (now, None))
        self._seen[key] = (first_at, up)
        return previous

    def forget(self, user_id: int) -> int:
        keys = [k for k in self._seen if k[0] == user_id]
        for key in keys:
            del self._seen[key]
        return len(keys)


class Storage:
    def __init__(self, path: Path | str):
        if isinstance(path, Path):
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.db = sqlite_utils.Database(conn)
        self._lock = threading.RLock()  # one connection, shared by the bot's threads
        if str(path) != ":memory:":
            self.db.enable_wal()
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.execute("PRAGMA secure_delete=ON")  # dropped vote rows are overwritten, not left in free pages
        self._migrate()
        self.vote_guard = VoteGuard()
        self.bookkeeping = Bookkeeper(str(path), conn)

    # ---- schema ----

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic write: BEGIN IMMEDIATE takes the write lock up front, so two processes
        (bot and CLI) serialise instead of failing halfway."""
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def _migrate(self) -> None:
        """Bring the schema up to date; each step runs once, in its own transaction."""
        if not self.db["meta"].exists():
            self.db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)  # type: ignore[union-attr]
        for version, step in enumerate(MIGRATIONS, 1):
            with self.transaction():
                row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                if row and int(row[0]) >= version:
                    continue
                step(self.db)
                self.db.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", [str(version)]
                )

    # ---- votes ----

    def record_vote(
        self, entry_id: str, up: bool, *, user_id: int, chat_id: int, message_id: int, question: str | None = None
    ) -> VoteResult:
        """Count a vote (queued), or move it when this user voted the other way on this message.

        Only per-entry tallies are stored, plus (for a 👎) the question with its day: no vote row,
        no voter hash, no time to the second, so no query can tie a question to who disliked it.
        One vote per user per message is enforced by a guard in memory that expires."""
        previous = self.vote_guard.cast(user_id, chat_id, message_id, up)
        if previous is up:
            return VoteResult.SAME
        column, other = ("up", "down") if up else ("down", "up")
        if previous is None:
            self.bookkeeping.put(
                f"INSERT INTO vote_counts (entry_id, up, down) VALUES (?, ?, ?) "
                f"ON CONFLICT(entry_id) DO UPDATE SET {column} = {column} + 1",
                [entry_id, int(up), int(not up)],
            )
        else:
            self.bookkeeping.put(
                f"UPDATE vote_counts SET {column} = {column} + 1, {other} = MAX({other} - 1, 0) WHERE entry_id = ?",
                [entry_id],
            )
        if question:
            question = question[:MAX_LOGGED_QUESTION_CHARS]
            if not up:
                self.bookkeeping.put(
                    "INSERT INTO downvoted_questions (entry_id, question, day) VALUES (?, ?, ?)",
                    [entry_id, question, today()],
                )
            elif previous is False:  # the 👎 taken back: its question no longer says the answer failed
                self.bookkeeping.put(
                    "DELETE FROM downvoted_questions WHERE rowid = (SELECT MAX(rowid) FROM downvoted_questions "
                    "WHERE entry_id = ? AND question = ?)",
                    [entry_id, question],
                )
        return VoteResult.COUNTED if previous is None else VoteResult.CHANGED

    def votes(self, entry_id: str) -> tuple[int, int]:
        self._settle()
        row = self.db.execute("SELECT up, down FROM vote_counts WHERE entry_id = ?", [entry_id]).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def most_downvoted(self, limit: int = 10) -> list[tuple[str, int, int, list[str]]]:
        """(entry id, 👎, 👍, recent questions that led to a 👎), most 👎 first."""
        self._settle()
        rows = self.db.execute(
            "SELECT entry_id, down, up FROM vote_counts WHERE down > 0 ORDER BY down DESC, entry_id LIMIT ?",
            [limit],
        ).fetchall()
        result = []
        for entry_id, down, up in rows:
            questions = self.db.execute(
                "SELECT question FROM downvoted_questions WHERE entry_id = ? ORDER BY day DESC, rowid DESC LIMIT 5",
                [entry_id],
            ).fetchall()
            result.append((entry_id, int(down), int(up), [q[0] for q in questions]))
        return result

    def forget_user(self, user_id: int, chat_id: int) -> dict[str, int]:
        """/forget: delete everything stored about this user; returns what was deleted.

        `chat_id` is the user's private chat (in Telegram its id equals the user id): a group's
        subscriptions belong to the group, not to whoever typed /forget there. A maintainer's
        broadcasts stay (subscribers received them) but lose the link to their author."""
        execute = self.db.execute
        with self.transaction():
            counts = {
                # Votes are anonymous tallies; only the in-memory guard knows who rated what.
                "votes": self.vote_guard.forget(user_id),
                "subscriptions": execute("DELETE FROM subscriptions WHERE chat_id = ?", [chat_id]).rowcount,
                "broadcast deliveries": execute("DELETE FROM outbox WHERE chat_id = ?", [chat_id]).rowcount,
                "broadcast authorships": execute(
                    "UPDATE broadcasts SET created_by = NULL WHERE created_by = ?", [user_id]
                ).rowcount,
                "language choice": execute("DELETE FROM languages WHERE user_id = ?", [user_id]).rowcount,
                "watches": execute("DELETE FROM watches WHERE chat_id = ?", [chat_id]).rowcount,
            }
            execute(
                "UPDATE broadcasts SET progress_chat_id = NULL, progress_message_id = NULL WHERE progress_chat_id = ?",
                [chat_id],
            )
        return counts

    # ---- /language ----

    def language(self, user_id: int) -> str | None:
        """The user's /language choice ("en" or "zh"), None for auto."""
        row = self.db.execute("SELECT choice FROM languages WHERE user_id = ?", [user_id]).fetchone()
        return row[0] if row else None

    def set_language(self, user_id: int, choice: str | None) -> None:
        """Store "en" or "zh"; None (auto) deletes the row, so the default stores nothing."""
        with self.transaction():
            self.db.execute("DELETE FROM languages WHERE user_id = ?", [user_id])
            if choice is not None:
                self.db.execute("INSERT INTO languages (user_id, choice) VALUES (?, ?)", [user_id, choice])

    def users_choosing(self, choice: str) -> set[int]:
        """Every user whose stored /language is `choice` (a private chat's id is its user's id)."""
        return {row[0] for row in self.db.execute("SELECT user_id FROM languages WHERE choice = ?", [choice])}

    # ---- source watch ----

    def source_check(self, url: str) -> dict[str, object] | None:
        row = self.db.execute(
            "SELECT hash, etag, last_modified, checked_at, changed_at FROM source_checks WHERE url = ?", [url]
        ).fetchone()
        return dict(zip(("hash", "etag", "last_modified", "checked_at", "changed_at"), row, strict=True)) if row else None

    def record_source_check(
        self, url: str, digest: str, etag: object, last_modified: object, checked_at: str, changed: bool
    ) -> None:
        """Remember a fetch; `changed_at` moves only when the page's text changed."""
        with self.transaction():
            self.db.execute(
                "INSERT INTO source_checks (url, hash, etag, last_modified, checked_at, changed_at)"
                " VALUES (?, ?, ?, ?, ?, NULL) ON CONFLICT(url) DO UPDATE SET hash = excluded.hash,"
                " etag = excluded.etag, last_modified = excluded.last_modified, checked_at = excluded.checked_at,"
                " changed_at = CASE WHEN ? THEN excluded.checked_at ELSE changed_at END",
                [url, digest, etag, last_modified, checked_at, changed],
            )

    # ---- unanswered questions and ask counts ----

    def log_unanswered(self, text: str) -> None:
        """Count a question the bot declined (queued, see Bookkeeper); identical questions (after
        folding) share a row."""
        text = text.strip()[:MAX_LOGGED_QUESTION_CHARS]
        key = fold(text)
        if not key:
            return
        stamp = now()
        self.bookkeeping.put(
            "INSERT INTO unanswered (key, text, count, first_seen, last_seen) VALUES (?, ?, 1, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET count = count + 1, last_seen = excluded.last_seen, "
            "text = excluded.text",
            [key, text, stamp, stamp],
        )

    def _settle(self) -> None:
        """Before a maintainer's read: let queued writes land (normally milliseconds), bounded so
        a locked database delays a /gaps by at most SETTLE_SECONDS, never forever."""
        self.bookkeeping.wait_idle(SETTLE_SECONDS)

    def unanswered(self, limit: int = 20) -> list[dict[str, object]]:
        self._settle()
        return list(
            self.db.query(
                "SELECT text, count, first_seen, last_seen FROM unanswered "
                "ORDER BY count DESC, last_seen DESC LIMIT ?",
                [limit],
            )
        )

    def gaps(self, limit: int = 20) -> list[dict[str, object]]:
        """Like `unanswered`, with each row's id and key: maintainers' buttons point at a row by
        its id and check the key (ids of deleted rows can be reused), never by the text."""
        self._settle()
        return list(
            self.db.query(
                "SELECT rowid AS id, key, text, count, first_seen, last_seen FROM unanswered "
                "ORDER BY count DESC, last_seen DESC LIMIT ?",
                [limit],
            )
        )

    def gap(self, row_id: int) -> dict[str, object] | None:
        rows = list(
            self.db.query(
                "SELECT rowid AS id, key, text, count, first_seen, last_seen FROM unanswered WHERE rowid = ?", [row_id]
            )
        )
        return rows[0] if rows else None

    def remove_gap(self, row_id: int, key: str) -> bool:
        """Drop one unanswered question from the list (dismissed, attached or answered by a new
        entry); False when it was already gone. Asked again later, it comes back with count 1."""
        with self.transaction():
            cursor = self.db.execute("DELETE FROM unanswered WHERE rowid = ? AND key = ?", [row_id, key])
        return cursor.rowcount > 0

    def count_asked(self, entry_id: str) -> None:
        """Queued (see Bookkeeper): the reply does not wait for it."""
        self.bookkeeping.put(
            "INSERT INTO asked (entry_id, count) VALUES (?, 1) ON CONFLICT(entry_id) DO UPDATE SET count = count + 1",
            [entry_id],
        )

    def most_asked(self, limit: int = 10) -> list[str]:
        rows = self.db.execute("SELECT entry_id FROM asked ORDER BY count DESC, entry_id LIMIT ?", [limit])
        return [r[0] for r in rows.fetchall()]

    def close(self) -> None:
        self.bookkeeping.close()
        self.db.conn.close()
