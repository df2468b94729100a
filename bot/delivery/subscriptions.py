"""Who wants policy updates on which topic. Only the chat id is stored: it is the address."""

from __future__ import annotations

from bot.storage import Storage, now

ALL_TOPICS = "all"


class Subscriptions:
    def __init__(self, storage: Storage):
        self.storage = storage

    def subscribe(self, chat_id: int, topics: list[str]) -> list[str]:
        """Idempotent: the primary key (chat_id, topic) makes concurrent taps harmless.
        Returns the topics that were newly added."""
        added = []
        with self.storage.transaction():
            for topic in topics:
                cursor = self.storage.db.execute(
                    "INSERT OR IGNORE INTO subscriptions (chat_id, topic, created_at) VALUES (?, ?, ?)",
                    [chat_id, topic, now()],
                )
                if cursor.rowcount:
                    added.append(topic)
        return added

    def unsubscribe(self, chat_id: int, topic: str | None = None) -> int:
        """Remove one topic, or every topic when `topic` is None. Returns how many were removed."""
        with self.storage.transaction():
            if topic is None:
                cursor = self.storage.db.execute("DELETE FROM subscriptions WHERE chat_id = ?", [chat_id])
            else:
                cursor = self.storage.db.execute(
                    "DELETE FROM subscriptions WHERE chat_id = ? AND topic = ?", [chat_id, topic]
                )
        return int(cursor.rowcount)

    def topics_of(self, chat_id: int) -> list[str]:
        rows = self.storage.db.execute(
            "SELECT topic FROM subscriptions WHERE chat_id = ? ORDER BY topic", [chat_id]
        ).fetchall()
        return [r[0] for r in rows]

    def recipients(self, topics: list[str]) -> list[int]:
        """Chats subscribed to any of `topics` (or to everything), each once."""
        wanted = [*topics, ALL_TOPICS]
        marks = ",".join("?" * len(wanted))
        rows = self.storage.db.execute(
            f"SELECT DISTINCT chat_id FROM subscriptions WHERE topic IN ({marks}) ORDER BY chat_id", wanted
        ).fetchall()
        return [r[0] for r in rows]

    def counts(self) -> dict[str, int]:
        rows = self.storage.db.execute(
            "SELECT topic, COUNT(*) FROM subscriptions GROUP BY topic ORDER BY topic"
        ).fetchall()
        return {r[0]: r[1] for r in rows}

    def total_chats(self) -> int:
        return int(self.storage.db.execute("SELECT COUNT(DISTINCT chat_id) FROM subscriptions").fetchone()[0])
