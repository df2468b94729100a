"""The source watch as a daily job of the running bot (`VISABOT_SOURCE_WATCH=daily`).

Nobody runs `visabot sources check` every morning, so the bot does: once a day it fetches every
cited page (bot/sources/watch.py) and, when entries enter the maintainers' review queue, messages
each admin once. "Once" holds across restarts: the ids already announced are kept in the `meta`
table, and so is the time of the last check, so a restart does not fetch 300 pages again.

PTB's JobQueue needs the `job-queue` extra (APScheduler), which visabot does not install; one
asyncio task started in post_init and cancelled in post_stop does the same for a single job.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections.abc import Callable

from telegram import Bot
from telegram.error import TelegramError

from bot.replies.telegram_view import esc
from bot.sources.watch import SourceWatch, changed_entries, urls_by_entry
from bot.storage import Storage
from knowledge.loader import KnowledgeBase

log = logging.getLogger(__name__)

INTERVAL = dt.timedelta(days=1)
FIRST_DELAY = dt.timedelta(minutes=5)  # after a first start: let the bot settle before 300 fetches
LAST_RUN_KEY = "source_watch_last_run"
ANNOUNCED_KEY = "source_watch_announced"  # JSON list: the queue's ids the admins were told about
MAX_IDS_SHOWN = 20


def announcement_html(new_ids: list[str], queued: int) -> str:
    ids = ", ".join(f"<code>{esc(i)}</code>" for i in new_ids[:MAX_IDS_SHOWN])
    more = f" and {len(new_ids) - MAX_IDS_SHOWN} more" if len(new_ids) > MAX_IDS_SHOWN else ""
    return (
        f"🔎 <b>Source watch</b>: {len(new_ids)} entr{'y' if len(new_ids) == 1 else 'ies'} entered the review "
        f"queue: an official source changed after the entry was verified.\n{ids}{more}\n\n"
        f"{queued} in the queue now. Re-check them with /changes."
    )


class DailySourceWatch:
    """Runs the check once a day in the background and announces new queue entries to admins."""

    def __init__(
        self, bot: Bot, storage: Storage, knowledge: Callable[[], KnowledgeBase], admin_ids: frozenset[int]
    ):
        self.bot, self.storage, self.knowledge, self.admin_ids = bot, storage, knowledge, admin_ids
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="source-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _next_run(self, now: dt.datetime) -> dt.datetime:
        last = self._meta(LAST_RUN_KEY)
        return dt.datetime.fromisoformat(last) + INTERVAL if last else now + FIRST_DELAY

    async def _loop(self) -> None:
        while True:
            now = dt.datetime.now(dt.UTC)
            await asyncio.sleep(max((self._next_run(now) - now).total_seconds(), 0))
            try:
                await self.run_once()
            except Exception:  # a failed day must not end the job: tomorrow may work
                log.exception("daily source watch failed; next try in a day")
                self._set_meta(LAST_RUN_KEY, dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))

    async def run_once(self) -> list[str]:
        """Check every cited page, then tell the admins about queue entries not announced before;
        returns those ids."""
        entries = self.knowledge().entries
        checks = await SourceWatch(self.storage).check(urls_by_entry(entries))
        self._set_meta(LAST_RUN_KEY, dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
        queued = await asyncio.to_thread(changed_entries, self.knowledge().entries, self.storage)
        queue = [entry.id for entry, _ in queued]
        announced = set(json.loads(self._meta(ANNOUNCED_KEY) or "[]"))
        new_ids = [i for i in queue if i not in announced]
        log.info("daily source watch: %d URLs checked, %d entries queued, %d new", len(checks), len(queue), len(new_ids))
        if new_ids:
            for admin in sorted(self.admin_ids):
                try:
                    await self.bot.send_message(admin, announcement_html(new_ids, len(queue)))
                except TelegramError as exc:  # an admin who never opened a chat with the bot
                    log.warning("could not tell admin %s about the source watch: %s", admin, exc)
        # Only ids still queued are remembered: one that leaves and comes back is announced again.
        self._set_meta(ANNOUNCED_KEY, json.dumps(queue))
        return new_ids

    def _meta(self, key: str) -> str | None:
        row = self.storage.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return str(row[0]) if row else None

    def _set_meta(self, key: str, value: str) -> None:
        with self.storage.transaction():
            self.storage.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [key, value])
