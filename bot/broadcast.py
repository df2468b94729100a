"""The delivery engine: sends one broadcast from the persisted outbox within Telegram's limits.

- Pace: one global leaky bucket (aiolimiter) just under 30 messages/s (1,000/s for paid
  broadcasts); every recipient gets one message per broadcast, and retries to a chat wait at
  least a second, so the per-chat limit holds.
- 429: every worker pauses for retry_after, then the message is retried. Conversation replies do
  not go through this limiter, so users keep getting answers while a broadcast runs.
- 403 (blocked, deactivated) and 400 "chat not found": the recipient is marked blocked and
  unsubscribed, never retried. Timeouts and 5xx: bounded retries with backoff, then failed.
- Crash safety: see bot/outbox.py. A lease keeps two processes from delivering the same broadcast.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiolimiter import AsyncLimiter
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

from bot.config import BotSettings
from bot.outbox import BLOCKED, DONE, FAILED, PENDING, RUNNING, SENDING, SENT, Broadcast, Outbox, Progress
from bot.storage import Storage
from bot.subscriptions import Subscriptions
from bot.telegram_request import AiohttpRequest
from bot.telegram_render import shorten, show_data
from knowledge.loader import KnowledgeBase

log = logging.getLogger(__name__)

FREE_RATE = 29.5  # Telegram allows about 30/s; staying just under avoids 429s at window edges
PAID_RATE = 980.0  # allow_paid_broadcast raises the limit to 1,000/s
PER_CHAT_INTERVAL = 1.0
MAX_ATTEMPTS = 4  # timeouts and 5xx
MAX_FLOOD_WAITS = 20  # 429s for one message before giving up on it
LEASE_SECONDS = 15.0
PROGRESS_INTERVAL = 3.0
BATCH = 500

ProgressCallback = Callable[[Broadcast, Progress, float | None, bool], Awaitable[None]]


class LeaseHeld(RuntimeError):
    """Another live process is delivering this broadcast."""


def process_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_alive(owner: str) -> bool:
    """A lease held by a process on this host that no longer exists is free to take."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine: trust the lease's expiry
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Limits:
    rate: float
    concurrency: int

    @classmethod
    def for_mode(cls, paid: bool) -> Limits:
        return cls(PAID_RATE, 100) if paid else cls(FREE_RATE, 30)


def bot_from_settings(settings: BotSettings) -> Bot:
    """A Bot for standalone delivery (the CLI), with the same endpoints as the application."""
    return Bot(
        settings.telegram_bot_token.get_secret_value(),
        base_url=settings.telegram_api_base_url,
        base_file_url=settings.telegram_api_file_url,
        request=AiohttpRequest(128),
    )


def broadcast_markup(kb: KnowledgeBase | None, entry_ids: list[str]) -> InlineKeyboardMarkup | None:
    entries = [e for e in (kb.get(i) for i in entry_ids) if e is not None] if kb else []
    if not entries:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(f"📖 {shorten(e.question, 56)}", callback_data=show_data(e.id))] for e in entries]
    )


class Broadcaster:
    """Delivers broadcasts with one Bot. Create one per process; `run` one broadcast at a time."""

    def __init__(
        self,
        bot: Bot,
        storage: Storage,
        kb: KnowledgeBase | None = None,
        *,
        on_progress: ProgressCallback | None = None,
        progress_interval: float = PROGRESS_INTERVAL,
        backoff: float = 0.5,
    ):
        self.bot = bot
        self.outbox = Outbox(storage)
        self.subscriptions = Subscriptions(storage)
        self.kb = kb
        self.on_progress = on_progress
        self.progress_interval = progress_interval
        self.backoff = backoff
        self.owner = process_owner()
        self._not_paused = asyncio.Event()
        self._not_paused.set()
        self._paused_until = 0.0
        self._last_sent: dict[int, float] = {}
        self.flood_waits = 0

    async def run(self, broadcast_id: int) -> Progress:
        """Deliver every pending row of this broadcast; safe to call again after a crash."""
        broadcast = self.outbox.get(broadcast_id)
        if broadcast is None:
            raise ValueError(f"no broadcast {broadcast_id}")
        if broadcast.status == DONE:
            return self.outbox.progress(broadcast_id)
        if not self.outbox.claim(broadcast_id, self.owner, LEASE_SECONDS, owner_alive):
            raise LeaseHeld(f"broadcast {broadcast_id} is being delivered by {broadcast.lease_owner}")
        try:
            recovered = self.outbox.recover_in_flight(broadcast_id)
            if recovered:
                log.warning("broadcast %s: %d message(s) were in flight at a crash; re-sending", broadcast_id, recovered)
            self.outbox.set_status(broadcast_id, RUNNING)
            broadcast = self.outbox.get(broadcast_id)
            assert broadcast is not None
            await self._deliver(broadcast)
            self.outbox.set_status(broadcast_id, DONE)
            final = self.outbox.get(broadcast_id)
            progress = self.outbox.progress(broadcast_id)
            if self.on_progress and final:
                await self.on_progress(final, progress, 0.0, True)
            return progress
        finally:
            self.outbox.release(broadcast_id, self.owner)

    async def _deliver(self, broadcast: Broadcast) -> None:
        limits = Limits.for_mode(broadcast.paid)
        limiter = AsyncLimiter(1, 1 / limits.rate)  # capacity 1: an even pace, no bursts
        markup = broadcast_markup(self.kb, broadcast.entry_ids)
        queue: asyncio.Queue[int | None] = asyncio.Queue(maxsize=limits.concurrency * 2)

        async def worker() -> None:
            while (chat_id := await queue.get()) is not None:
                await self._send_one(broadcast, chat_id, limiter, markup)

        workers = [asyncio.create_task(worker()) for _ in range(limits.concurrency)]
        reporter = asyncio.create_task(self._report(broadcast))
        try:
            after = None
            while batch := self.outbox.pending(broadcast.id, BATCH, after=after):
                for chat_id in batch:
                    await queue.put(chat_id)
                after = batch[-1]
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)
        finally:
            reporter.cancel()
            for task in workers:
                task.cancel()

    async def _send_one(
        self, broadcast: Broadcast, chat_id: int, limiter: AsyncLimiter, markup: InlineKeyboardMarkup | None
    ) -> None:
        attempts = floods = 0
        last_error = ""
        while attempts < MAX_ATTEMPTS and floods < MAX_FLOOD_WAITS:
            await self._space_chat(chat_id)
            # Take a pace slot only while not paused: slots taken during a 429 pause would all be
            # spent at once when it ends, and that burst would draw the next 429.
            while True:
                await limiter.acquire()
                if self._not_paused.is_set():
                    break
                await self._not_paused.wait()
            self._last_sent[chat_id] = time.monotonic()
            self.outbox.mark(broadcast.id, chat_id, SENDING)  # in flight: the only rows in doubt after a crash
            try:
                await self.bot.send_message(
                    chat_id,
                    broadcast.html,
                    parse_mode=ParseMode.HTML,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                    reply_markup=markup,
                    allow_paid_broadcast=True if broadcast.paid else None,
                )
            except RetryAfter as exc:
                floods += 1
                self.flood_waits += 1
                self._pause(_seconds(exc.retry_after))
                last_error = f"429 retry after {_seconds(exc.retry_after):g}s"
                self.outbox.mark(broadcast.id, chat_id, PENDING, last_error)  # certainly not delivered
                continue
            except Forbidden as exc:
                self._drop(broadcast, chat_id, f"403 {exc.message}")
                return
            except BadRequest as exc:
                if "chat not found" in exc.message.lower() or "user not found" in exc.message.lower():
                    self._drop(broadcast, chat_id, f"400 {exc.message}")
                else:  # the message itself is wrong; retrying cannot help
                    self.outbox.mark(broadcast.id, chat_id, FAILED, f"400 {exc.message}", attempt=True)
                return
            except NetworkError as exc:  # timeouts, 5xx, connection errors
                attempts += 1
                last_error = f"{type(exc).__name__}: {exc.message}"
                await asyncio.sleep(self.backoff * 2 ** (attempts - 1))
                continue
            self.outbox.mark(broadcast.id, chat_id, SENT, attempt=True)
            return
        self.outbox.mark(broadcast.id, chat_id, FAILED, last_error or "gave up", attempt=True)

    def _drop(self, broadcast: Broadcast, chat_id: int, reason: str) -> None:
        self.outbox.mark(broadcast.id, chat_id, BLOCKED, reason, attempt=True)
        self.subscriptions.unsubscribe(chat_id)

    def _pause(self, seconds: float) -> None:
        """A 429 is about the whole bot: every worker waits it out."""
        until = time.monotonic() + seconds
        if until <= self._paused_until:
            return
        self._paused_until = until
        self._not_paused.clear()
        asyncio.get_running_loop().call_later(seconds, self._unpause, until)

    def _unpause(self, until: float) -> None:
        if until >= self._paused_until:
            self._not_paused.set()

    async def _space_chat(self, chat_id: int) -> None:
        last = self._last_sent.get(chat_id)
        if last is not None:
            wait = PER_CHAT_INTERVAL - (time.monotonic() - last)
            if wait > 0:
                await asyncio.sleep(wait)

    async def _report(self, broadcast: Broadcast) -> None:
        """Every few seconds: renew the lease and report progress (sent, remaining, time left)."""
        started = time.monotonic()
        first = self.outbox.progress(broadcast.id)
        while True:
            await asyncio.sleep(self.progress_interval)
            self.outbox.claim(broadcast.id, self.owner, LEASE_SECONDS, owner_alive)
            progress = self.outbox.progress(broadcast.id)
            done_now = progress[SENT] + progress[BLOCKED] + progress[FAILED]
            done_before = first[SENT] + first[BLOCKED] + first[FAILED]
            rate = (done_now - done_before) / max(time.monotonic() - started, 1e-6)
            eta = progress.remaining / rate if rate > 0 else None
            if self.on_progress:
                try:
                    await self.on_progress(broadcast, progress, eta, False)
                except Exception:  # a failed progress edit must never stop delivery
                    log.warning("broadcast %s: progress report failed", broadcast.id, exc_info=True)


def _seconds(value: object) -> float:
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)  # type: ignore[arg-type,union-attr]
