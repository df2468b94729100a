"""SQLite storage through sqlite-utils: votes, the unanswered log and ask counts.

Privacy by design: no table holds a Telegram user id next to what the user asked or how they
voted. One vote per user per answer message is enforced with a receipt — a keyed hash of
(user, chat, message) under a random per-database key — kept apart from the vote tallies.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import sqlite3
from pathlib import Path

import sqlite_utils

from knowledge.normalize import fold

SCHEMA_VERSION = 1
MAX_LOGGED_QUESTION_CHARS = 500


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Storage:
    def __init__(self, path: Path | str):
        if isinstance(path, Path):
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.db = sqlite_utils.Database(conn)
        if str(path) != ":memory:":
            self.db.enable_wal()
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=5000")
        self._migrate()
        self._receipt_key = bytes.fromhex(self._meta("receipt_key"))

    # ---- schema ----

    def _meta(self, key: str) -> str:
        return self.db["meta"].get(key)["value"]  # type: ignore[no-any-return]

    def _migrate(self) -> None:
        """Create or upgrade the schema in one transaction; versions only move forward."""
        with self.db.conn:
            meta = self.db["meta"]
            if not meta.exists():
                meta.create({"key": str, "value": str}, pk="key")  # type: ignore[union-attr]
            version_row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(version_row[0]) if version_row else 0
            if version < 1:
                self.db["entry_votes"].create({"entry_id": str, "up": int, "down": int}, pk="entry_id")  # type: ignore[union-attr]
                self.db["vote_receipts"].create({"receipt": str, "created_at": str}, pk="receipt")  # type: ignore[union-attr]
                self.db["unanswered"].create(  # type: ignore[union-attr]
                    {"key": str, "text": str, "count": int, "first_seen": str, "last_seen": str}, pk="key"
                )
                self.db["asked"].create({"entry_id": str, "count": int}, pk="entry_id")  # type: ignore[union-attr]
                meta.insert({"key": "receipt_key", "value": secrets.token_hex(32)})  # type: ignore[union-attr]
            meta.upsert({"key": "schema_version", "value": str(SCHEMA_VERSION)}, pk="key")  # type: ignore[union-attr]

    # ---- votes ----

    def _receipt(self, user_id: int, chat_id: int, message_id: int) -> str:
        msg = f"{user_id}:{chat_id}:{message_id}".encode()
        return hmac.new(self._receipt_key, msg, hashlib.sha256).hexdigest()

    def record_vote(self, entry_id: str, up: bool, *, user_id: int, chat_id: int, message_id: int) -> bool:
        """Count one vote; False when this user already voted on this answer message."""
        column = "up" if up else "down"
        with self.db.conn:
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO vote_receipts (receipt, created_at) VALUES (?, ?)",
                [self._receipt(user_id, chat_id, message_id), _now()],
            )
            if cursor.rowcount == 0:
                return False
            self.db.execute(
                f"INSERT INTO entry_votes (entry_id, up, down) VALUES (?, ?, ?) "
                f"ON CONFLICT(entry_id) DO UPDATE SET {column} = {column} + 1",
                [entry_id, int(up), int(not up)],
            )
        return True

    def votes(self, entry_id: str) -> tuple[int, int]:
        row = self.db.execute("SELECT up, down FROM entry_votes WHERE entry_id = ?", [entry_id]).fetchone()
        return (row[0], row[1]) if row else (0, 0)

    # ---- unanswered questions and ask counts ----

    def log_unanswered(self, text: str) -> None:
        """Count a question the bot declined; identical questions (after folding) share a row."""
        text = text.strip()[:MAX_LOGGED_QUESTION_CHARS]
        key = fold(text)
        if not key:
            return
        now = _now()
        with self.db.conn:
            self.db.execute(
                "INSERT INTO unanswered (key, text, count, first_seen, last_seen) VALUES (?, ?, 1, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET count = count + 1, last_seen = excluded.last_seen, "
                "text = excluded.text",
                [key, text, now, now],
            )

    def unanswered(self, limit: int = 20) -> list[dict[str, object]]:
        return list(
            self.db.query(
                "SELECT text, count, first_seen, last_seen FROM unanswered "
                "ORDER BY count DESC, last_seen DESC LIMIT ?",
                [limit],
            )
        )

    def count_asked(self, entry_id: str) -> None:
        with self.db.conn:
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
