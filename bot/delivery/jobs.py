"""Broadcasts inside the bot process: start, resume after a restart, report progress in Telegram.

Delivery runs as background tasks on the bot's event loop, so conversation replies keep flowing.
The admin who sent a broadcast sees one message edited at most every few seconds, then a report.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import Bot
from telegram.error import TelegramError

from bot.delivery.broadcast import PROGRESS_INTERVAL, Broadcaster, LeaseHeld
from bot.delivery.outbox import BLOCKED, FAILED, SENT, WATCH_NOTICE, Broadcast, Outbox, Progress
from bot.storage import Storage
from knowledge.loader import KnowledgeBase

log = logging.getLogger(__name__)


def progress_text(broadcast: Broadcast, progress: Progress, eta: float | None, final: bool) -> str:
    kind = "👁 <b>Watch notice" if broadcast.topics == [WATCH_NOTICE] else "📣 <b>Broadcast"
    head = f"{kind} #{broadcast.id}</b> — " + ("finished" if final else "sending…")
    lines = [
        head,
        f"✅ sent {progress[SENT]} · 🚫 blocked {progress[BLOCKED]} · ⚠️ failed {progress[FAILED]}",
        f"⏳ remaining {progress.remaining} of {progress.total}",
    ]
    if not final and eta is not None:
        lines.append(f"about {int(eta // 60)} min {int(eta % 60)} s left")
    if broadcast.resumed_in_flight:
        lines.append(
            f"↻ resumed after a restart: {broadcast.resumed_in_flight} message(s) in flight were re-sent"
        )
    return "\n".join(lines)


class BroadcastJobs:
    """One per bot process: runs each broadcast at most once at a time."""

    def __init__(self, bot: Bot, storage: Storage, kb: KnowledgeBase):
        self.bot, self.storage, self.kb = bot, storage, kb
        self.outbox = Outbox(storage)
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._loop = asyncio.get_running_loop()  # made in post_init, on the bot's loop

    def start(self, broadcast_id: int) -> bool:
        """Start delivering in the background; False if it is already running here."""
        task = self._tasks.get(broadcast_id)
        if task is not None and not task.done():
            return False
        self._tasks[broadcast_id] = asyncio.get_running_loop().create_task(
            self._run(broadcast_id), name=f"broadcast-{broadcast_id}"
        )
        return True

    def start_soon(self, broadcast_id: int) -> None:
        """`start` from any thread: a knowledge-base reload runs in a worker thread (an /edit
        save) and may queue watch notices (bot/delivery/watch.py)."""
        self._loop.call_soon_threadsafe(self.start, broadcast_id)

    def resume_unfinished(self) -> list[int]:
        """Called at start-up: a broadcast interrupted by a crash carries on by itself."""
        ids = [b.id for b in self.outbox.unfinished()]
        for broadcast_id in ids:
            self.start(broadcast_id)
        return ids

    async def wait(self, broadcast_id: int) -> None:
        task = self._tasks.get(broadcast_id)
        if task is not None:
            await task

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def _run(self, broadcast_id: int) -> None:
        broadcaster = Broadcaster(
            self.bot, self.storage, self.kb, on_progress=self._report, progress_interval=PROGRESS_INTERVAL
        )
        while True:
            try:
                await broadcaster.run(broadcast_id)
                return
            except LeaseHeld:  # another process holds the lease: try again when it may be free
                log.info("broadcast %s is leased elsewhere; retrying later", broadcast_id)
                await asyncio.sleep(PROGRESS_INTERVAL)
            except Exception:
                log.exception("broadcast %s stopped; it resumes at the next start", broadcast_id)
                return

    async def _report(self, broadcast: Broadcast, progress: Progress, eta: float | None, final: bool) -> None:
        current = self.outbox.get(broadcast.id) or broadcast
        if current.progress_chat_id is None or current.progress_message_id is None:
            return
        try:
            await self.bot.edit_message_text(
                progress_text(current, progress, eta, final),
                chat_id=current.progress_chat_id,
                message_id=current.progress_message_id,
            )
        except TelegramError as exc:  # "message is not modified" and friends: the next report will do
            log.debug("progress edit for broadcast %s failed: %s", broadcast.id, exc)
