"""The delivery engine: sends one broadcast from the persisted outbox within Telegram's limits.

- Pace: one global leaky bucket (aiolimiter) that never lets more than 30 messages into any
  one second (1,000 for paid broadcasts), see `Limits`; every recipient gets one message per
  broadcast, and retries to a chat wait at least a second, so the per-chat limit holds.
- 429: every worker pauses for retry_after, then the message is retried. Conversation replies do
  not go through this limiter, so users keep getting answers while a broadcast runs.
- 403 (blocked, deactivated) and 400 "chat not found": the recipient is marked blocked,
  unsubscribed, its watches dropped, never retried. Timeouts and 5xx: bounded retries with backoff, then failed.
- Crash safety: see bot/delivery/outbox.py (`Ledger`). A lease keeps two processes from delivering the
  same broadcast at once.
- CPU: at 1,000 messages a second, one message may cost at most 1 ms of a core, so the message
  is serialised once per broadcast and sent with `Bot.do_api_request`, and outbox writes are
  grouped (bench/RESULTS-broadcast.md).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiolimiter import AsyncLimiter
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

from bot.config import BotSettings
from bot.delivery.outbox import (
    BLOCKED,
    DONE,
    FAILED,
    PENDING,
    RUNNING,
    SENT,
    WATCH_NOTICE,
    Broadcast,
    Ledger,
    Outbox,
    Progress,
)
from bot.delivery.subscriptions import Subscriptions
from bot.delivery.watch import Watches
from bot.i18n import Lang, Preference, entry_text, t, topic_name
from bot.replies.telegram_view import MAX_MESSAGE_UNITS, esc, shorten, show_data
from bot.runtime.http_client import AiohttpRequest
from bot.storage import Storage
from knowledge.loader import KnowledgeBase
from knowledge.model import Topic

log = logging.getLogger(__name__)

FREE_LIMIT = 30  # Telegram: about 30 messages a second overall
PAID_LIMIT = 1000  # with allow_paid_broadcast
PER_CHAT_INTERVAL = 1.0
MAX_ATTEMPTS = 4  # timeouts and 5xx
MAX_FLOOD_WAITS = 20  # 429s for one message before giving up on it
LEASE_SECONDS = 15.0
PROGRESS_INTERVAL = 3.0
BATCH = 500

# The Bot API's method names are case-insensitive. PTB warns about do_api_request("sendMessage")
# because Bot has a method of that name; the engine means to bypass it (see message_parameters).
SEND_MESSAGE = "sendmessage"

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
    """How fast one broadcast goes, paced by aiolimiter's `AsyncLimiter(burst, burst / rate)`.

    That limiter is a leaky bucket: `rate` sends a second on average and up to `burst` at once
    when the bucket has drained, so a send the event loop wakes late is made up by the next
    ones instead of being lost (with a capacity of 1, about 1 ms lost per send turned 29.5/s
    into 28.7/s). In any one second it lets through fewer than `burst + rate` sends; Telegram
    counts per second and answers any excess with 429, so that stays under its limit with room
    for about 20 ms of jitter between our clock and Telegram's (tests/test_broadcast_pace.py).

    `group` rows are paced and committed together (at most `burst`); `concurrency` requests
    may be in flight at once.
    """

    rate: float
    burst: float
    group: int
    concurrency: int

    @classmethod
    def for_mode(cls, paid: bool) -> Limits:
        return PAID if paid else FREE

    @property
    def most_per_second(self) -> float:
        return self.burst + self.rate


FREE = Limits(rate=29.2, burst=1.2, group=1, concurrency=30)  # fewer than 30.4, so at most 30, a second
PAID = Limits(rate=960.0, burst=20.0, group=10, concurrency=100)  # fewer than 980 a second


FRAME_ALLOWANCE = 300  # visible characters kept free for the header and footer around the text
MAX_BODY_CHARS = MAX_MESSAGE_UNITS - FRAME_ALLOWANCE


def framed_html(html: str, topics: list[str], day: dt.date, lang: Lang = Lang.EN) -> str:
    """The admin's text between a header (what, which topics, when) and how to stop, in `lang`.

    Subscribers saw only the bare text: they could not tell a policy update from spam, or
    how to stop it.
    """
    names = [topic_name(t, lang) for t in topics if t in Topic._value2member_map_]
    scope = " · ".join(names) if names and len(names) < len(Topic) else t("broadcast.all_topics", lang)
    return f"{t('broadcast.header', lang, scope=esc(scope), day=day)}\n\n{html}\n\n{t('broadcast.footer', lang)}"


def message_parameters(broadcast: Broadcast, kb: KnowledgeBase | None, lang: Lang = Lang.EN) -> dict[str, object]:
    """sendMessage's parameters but the chat, serialised once per broadcast and language: the
    Chinese text in a Chinese frame when `lang` is Chinese and the admin wrote one, else the English.

    `Bot.send_message` would serialise the buttons again for every recipient and build a
    `telegram.Message` from every answer, which delivery never reads: together about a quarter
    of the CPU per message (bench/RESULTS-broadcast.md). PTB sends a str parameter as it is.
    """
    lang = lang if lang.chinese and broadcast.html_zh else Lang.EN
    html = (broadcast.html_zh if lang.chinese else None) or broadcast.html
    day = dt.date.fromisoformat(broadcast.created_at[:10])
    parameters: dict[str, object] = {
        "text": html if broadcast.topics == [WATCH_NOTICE] else framed_html(html, broadcast.topics, day, lang),
        "parse_mode": ParseMode.HTML.value,
        "link_preview_options": LinkPreviewOptions(is_disabled=True).to_json(),
    }
    markup = broadcast_markup(kb, broadcast.entry_ids, lang)
    if markup is not None:
        parameters["reply_markup"] = markup.to_json()
    if broadcast.paid:
        parameters["allow_paid_broadcast"] = True
    return parameters


def bot_from_settings(settings: BotSettings) -> Bot:
    """A Bot for standalone delivery (the CLI), with the same endpoints as the application."""
    return Bot(
        settings.telegram_bot_token.get_secret_value(),
        base_url=settings.telegram_api_base_url,
        base_file_url=settings.telegram_api_file_url,
        request=AiohttpRequest(128),
    )


def broadcast_markup(kb: KnowledgeBase | None, entry_ids: list[str], lang: Lang = Lang.EN) -> InlineKeyboardMarkup | None:
    entries = [e for e in (kb.get(i) for i in entry_ids) if e is not None] if kb else []
    if not entries or kb is None:
        return None
    questions = [entry_text(e, lang, kb.chinese).question for e in entries]
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(f"📖 {shorten(q, 56)}", callback_data=show_data(e.id))] for e, q in zip(entries, questions, strict=True)]
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
        self.watches = Watches(storage)
        self.kb = kb
        self.on_progress = on_progress
        self.progress_interval = progress_interval
        self.backoff = backoff
        self.owner = process_owner()
        self._not_paused = asyncio.Event()
        self._not_paused.set()
        self._paused_until = 0.0
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
        limiter = AsyncLimiter(limits.burst, limits.burst / limits.rate)
        english = message_parameters(broadcast, self.kb)
        # Subscribers who chose 中文 with /language get the Chinese text, when there is one.
        chinese = message_parameters(broadcast, self.kb, Lang.ZH) if broadcast.html_zh else english
        readers_of_chinese = self.outbox.storage.users_choosing(Preference.ZH.value) if broadcast.html_zh else set()
        ledger = Ledger(self.outbox, broadcast.id)
        idle = asyncio.Semaphore(limits.concurrency)
        queue: asyncio.Queue[int | None] = asyncio.Queue()

        async def worker() -> None:
            while (chat_id := await queue.get()) is not None:
                try:
                    message = chinese if chat_id in readers_of_chinese else english
                    await self._send_one(chat_id, message, limiter, ledger)
                finally:
                    idle.release()

        # Start with a full bucket: no burst in the first second, when opening new connections
        # makes the arrival times at Telegram the most uneven.
        await limiter.acquire(limits.burst)
        feeder = asyncio.create_task(self._feed(broadcast.id, limits, limiter, ledger, idle, queue))
        workers = [asyncio.create_task(worker()) for _ in range(limits.concurrency)]
        reporter = asyncio.create_task(self._report(broadcast, ledger))
        try:
            await asyncio.gather(feeder, *workers)
        finally:
            for task in (feeder, *workers, reporter):
                task.cancel()
            ledger.flush()

    async def _feed(
        self,
        broadcast_id: int,
        limits: Limits,
        limiter: AsyncLimiter,
        ledger: Ledger,
        idle: asyncio.Semaphore,
        queue: asyncio.Queue[int | None],
    ) -> None:
        """Hand pending rows to the workers a group at a time: a group waits for idle workers,
        then for its pace slots, and is committed as `sending` before any of it is sent."""
        after = None
        while page := self.outbox.pending(broadcast_id, BATCH, after=after):
            for first in range(0, len(page), limits.group):
                group = page[first : first + limits.group]
                for _ in group:
                    await idle.acquire()
                await self._take_slots(limiter, len(group))
                ledger.start(group)
                for chat_id in group:
                    queue.put_nowait(chat_id)
            after = page[-1]
        for _ in range(limits.concurrency):
            queue.put_nowait(None)

    async def _take_slots(self, limiter: AsyncLimiter, count: int) -> None:
        """Wait for pace slots, but never keep slots taken during a 429 pause: they would all be
        spent the moment it ends, and that burst would draw the next 429."""
        while True:
            await limiter.acquire(count)
            if self._not_paused.is_set():
                return
            await self._not_paused.wait()

    async def _send_one(self, chat_id: int, message: dict[str, object], limiter: AsyncLimiter, ledger: Ledger) -> None:
        """Deliver to one chat whose row is `sending` and whose pace slot is taken; retry as
        the error asks, each retry with a new slot."""
        attempts = floods = 0
        while True:
            sent_at = _now()
            try:
                await self.bot.do_api_request(SEND_MESSAGE, api_kwargs={"chat_id": chat_id, **message})
            except RetryAfter as exc:
                floods += 1
                self.flood_waits += 1
                self._pause(_seconds(exc.retry_after))
                error = f"429 retry after {_seconds(exc.retry_after):g}s"
                if floods >= MAX_FLOOD_WAITS:
                    break
                ledger.finish(chat_id, PENDING, error, attempt=False)  # certainly not delivered
            except Forbidden as exc:
                self._drop(ledger, chat_id, f"403 {exc.message}")
                return
            except BadRequest as exc:
                if "chat not found" in exc.message.lower() or "user not found" in exc.message.lower():
                    self._drop(ledger, chat_id, f"400 {exc.message}")
                else:  # the message itself is wrong; retrying cannot help
                    ledger.finish(chat_id, FAILED, f"400 {exc.message}")
                return
            except NetworkError as exc:  # timeouts, 5xx, connection errors
                attempts += 1
                error = f"{type(exc).__name__}: {exc.message}"
                if attempts >= MAX_ATTEMPTS:
                    break
                await asyncio.sleep(self.backoff * 2 ** (attempts - 1))
            else:
                ledger.finish(chat_id, SENT)
                return
            await asyncio.sleep(PER_CHAT_INTERVAL - (_now() - sent_at))  # none if already waited
            await self._take_slots(limiter, 1)
            ledger.start([chat_id])
        ledger.finish(chat_id, FAILED, error)

    def _drop(self, ledger: Ledger, chat_id: int, reason: str) -> None:
        ledger.finish(chat_id, BLOCKED, reason)
        self.subscriptions.unsubscribe(chat_id)
        self.watches.forget_chat(chat_id)

    def _pause(self, seconds: float) -> None:
        """A 429 is about the whole bot: every worker waits it out."""
        until = _now() + seconds
        if until <= self._paused_until:
            return
        self._paused_until = until
        self._not_paused.clear()
        asyncio.get_running_loop().call_later(seconds, self._unpause, until)

    def _unpause(self, until: float) -> None:
        if until >= self._paused_until:
            self._not_paused.set()

    async def _report(self, broadcast: Broadcast, ledger: Ledger) -> None:
        """Every few seconds: renew the lease and report progress (sent, remaining, time left)."""
        started = _now()
        first = self.outbox.progress(broadcast.id)
        while True:
            await asyncio.sleep(self.progress_interval)
            self.outbox.claim(broadcast.id, self.owner, LEASE_SECONDS, owner_alive)
            ledger.flush()
            progress = self.outbox.progress(broadcast.id)
            done_now = progress[SENT] + progress[BLOCKED] + progress[FAILED]
            done_before = first[SENT] + first[BLOCKED] + first[FAILED]
            rate = (done_now - done_before) / max(_now() - started, 1e-6)
            eta = progress.remaining / rate if rate > 0 else None
            if self.on_progress:
                try:
                    await self.on_progress(broadcast, progress, eta, False)
                except Exception:  # a failed progress edit must never stop delivery
                    log.warning("broadcast %s: progress report failed", broadcast.id, exc_info=True)


def _now() -> float:
    """The event loop's clock, the one aiolimiter and every sleep here use (tests may run a
    loop with a virtual clock)."""
    return asyncio.get_running_loop().time()


def _seconds(value: object) -> float:
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)  # type: ignore[arg-type]
