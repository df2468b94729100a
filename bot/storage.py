"""SQLite storage through sqlite-utils: votes, the unanswered log and ask counts.

Privacy by design: no table holds a Telegram user id next to what the user asked or how they
voted. One vote per user per answer message is enforced with a receipt — a keyed hash of
(user, chat, message) under a random per-database key — kept apart from the vote tallies.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import secrets
import sqlite3
import threading
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


def _v3_languages(db: sqlite_utils.Database) -> None:
    # /language: the one thing it needs, the user's choice; only stored when not "auto".
    db.execute("CREATE TABLE languages (user_id INTEGER PRIMARY KEY, choice TEXT NOT NULL)")


def _v4_source_checks(db: sqlite_utils.Database) -> None:
    # Source watch (bot/source_watch.py): what each cited page looked like when last fetched.
    db.execute(
        "CREATE TABLE source_checks (url TEXT PRIMARY KEY, hash TEXT NOT NULL, etag TEXT, last_modified TEXT,"
        " checked_at TEXT NOT NULL, changed_at TEXT)"
    )


MIGRATIONS = (_v1_answers, _v2_broadcasts, _v3_languages, _v4_source_checks)
MAX_LOGGED_QUESTION_CHARS = 500


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


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
        self._migrate()
        self._receipt_key = bytes.fromhex(self._meta("receipt_key"))

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

    def _meta(self, key: str) -> str:
        return str(self.db.table("meta").get(key)["value"])

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

    def _keyed(self, text: str) -> str:
        return hmac.new(self._receipt_key, text.encode(), hashlib.sha256).hexdigest()

    def voter(self, user_id: int) -> str:
        return self._keyed(f"user:{user_id}")

    def record_vote(
        self, entry_id: str, up: bool, *, user_id: int, chat_id: int, message_id: int, question: str | None = None
    ) -> bool:
        """Count one vote; False when this user already voted on this answer message. A 👎 keeps
        the question that led to the answer (when known), unlinked from the user."""
        with self.transaction():
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO votes (voter, message_key, entry_id, up, created_at) VALUES (?, ?, ?, ?, ?)",
                # In a private chat the chat id is the user id: the message is keyed by a hash too.
                [self.voter(user_id), self._keyed(f"message:{chat_id}:{message_id}"), entry_id, int(up), now()],
            )
            if cursor.rowcount == 0:
                return False
            if not up and question:
                self.db.execute(
                    "INSERT INTO downvoted_questions (entry_id, question, created_at) VALUES (?, ?, ?)",
                    [entry_id, question[:MAX_LOGGED_QUESTION_CHARS], now()],
                )
        return True

    def votes(self, entry_id: str) -> tuple[int, int]:
        row = self.db.execute(
            "SELECT COALESCE(SUM(up), 0), COALESCE(SUM(1 - up), 0) FROM votes WHERE entry_id = ?", [entry_id]
        ).fetchone()
        return int(row[0]), int(row[1])

    def most_downvoted(self, limit: int = 10) -> list[tuple[str, int, int, list[str]]]:
        """(entry id, 👎, 👍, recent questions that led to a 👎), most 👎 first."""
        rows = self.db.execute(
            "SELECT entry_id, SUM(1 - up) AS down, SUM(up) AS up FROM votes GROUP BY entry_id"
            " HAVING down > 0 ORDER BY down DESC, entry_id LIMIT ?",
            [limit],
        ).fetchall()
        result = []
        for entry_id, down, up in rows:
            questions = self.db.execute(
                "SELECT question FROM downvoted_questions WHERE entry_id = ? ORDER BY created_at DESC LIMIT 5",
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
                "votes": execute("DELETE FROM votes WHERE voter = ?", [self.voter(user_id)]).rowcount,
                "subscriptions": execute("DELETE FROM subscriptions WHERE chat_id = ?", [chat_id]).rowcount,
                "broadcast deliveries": execute("DELETE FROM outbox WHERE chat_id = ?", [chat_id]).rowcount,
                "broadcast authorships": execute(
                    "UPDATE broadcasts SET created_by = NULL WHERE created_by = ?", [user_id]
                ).rowcount,
                "language choice": execute("DELETE FROM languages WHERE user_id = ?", [user_id]).rowcount,
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
        """Count a question the bot declined; identical questions (after folding) share a row."""
        text = text.strip()[:MAX_LOGGED_QUESTION_CHARS]
        key = fold(text)
        if not key:
            return
        stamp = now()
        with self.transaction():
            self.db.execute(
                "INSERT INTO unanswered (key, text, count, first_seen, last_seen) VALUES (?, ?, 1, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET count = count + 1, last_seen = excluded.last_seen, "
                "text = excluded.text",
                [key, text, stamp, stamp],
            )

    def unanswered(self, limit: int = 20) -> list[dict[str, object]]:
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
        with self.transaction():
            self.db.execute(
                "INSERT INTO asked (entry_id, count) VALUES (?, 1) "
                "ON CONFLICT(entry_id) DO UPDATE SET count = count + 1",
                [entry_id],
            )

    def most_asked(self, limit: int = 10) -> list[str]:
        rows = self.db.execute("SELECT entry_id FROM asked ORDER BY count DESC, entry_id LIMIT ?", [limit])
        return [r[0] for r in rows.fetchall()]

    def close(self) -> None:
        self.db.conn.close()
