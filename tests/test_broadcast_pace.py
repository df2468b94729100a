"""Pacing, in virtual time: the real Broadcaster and PTB Bot, a transport that answers at once
and enforces Telegram's limits, and an event loop whose clock moves only when the loop would
sleep, each time waking a little late, as a busy machine does.

Nothing here depends on the speed of the machine: the clock is virtual, so the rates below are
exact consequences of the pacing, not measurements (those are in bench/broadcast_throughput.py).
"""

from __future__ import annotations

import asyncio
import json
import random
import selectors
from collections import deque
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest
from telegram import Bot
from telegram.request import BaseRequest, RequestData

from bot.delivery.broadcast import FREE, FREE_LIMIT, PAID, PAID_LIMIT, Broadcaster, Limits
from bot.delivery.outbox import SENT, Outbox
from bot.storage import Storage
from tests.bot_harness import TOKEN

LATENESS = 0.003  # every wake-up of the loop comes up to 3 ms late


class _VirtualClock(selectors.DefaultSelector):
    """select() never sleeps: it moves the clock on by the timeout instead, plus some lateness."""

    def __init__(self, lateness: float) -> None:
        super().__init__()
        self.now = 0.0
        self.lateness = lateness
        self.random = random.Random(4)

    def select(self, timeout: float | None = None) -> list[Any]:
        ready = super().select(0)
        if ready or timeout == 0:  # work to do now: no time passes
            return ready
        if timeout is None:
            raise RuntimeError("the loop would wait forever")
        self.now += timeout + self.random.uniform(0, self.lateness)
        return ready


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self, lateness: float = 0.0) -> None:
        self.clock = _VirtualClock(lateness)
        super().__init__(self.clock)

    def time(self) -> float:
        return self.clock.now


def run_virtual(coro: Coroutine[Any, Any, Any], lateness: float = LATENESS) -> Any:
    loop = VirtualTimeLoop(lateness)
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


class LimitedTelegram(BaseRequest):
    """sendMessage answered at once, with the limits enforced as Telegram does: at most `limit`
    messages in any one-second window and one per chat a second, or 429 with retry_after.
    `flood_at` answers the n-th request 429 with that retry_after, as a Telegram hiccup."""

    def __init__(self, limit: int, flood_at: dict[int, int] | None = None) -> None:
        self.limit = limit
        self.flood_at = flood_at or {}
        self.requests = 0
        self.accepted: list[tuple[float, int, dict[str, str]]] = []  # (time, chat, parameters)
        self.rejected: list[tuple[float, int, str]] = []  # (time, chat, why)
        self._window: deque[float] = deque()
        self._last_to_chat: dict[int, float] = {}

    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        assert url.rsplit("/", 1)[-1].lower() == "sendmessage" and request_data is not None
        now = asyncio.get_running_loop().time()
        params = request_data.json_parameters
        chat_id = int(params["chat_id"])
        self.requests += 1
        retry_after = self._over_limit(chat_id, now)
        if retry_after is None and self.requests in self.flood_at:
            retry_after = self.flood_at[self.requests]
            self.rejected.append((now, chat_id, "injected"))
        elif retry_after is not None:
            self.rejected.append((now, chat_id, "limit"))
        if retry_after is not None:
            return 429, json.dumps({"ok": False, "error_code": 429, "parameters": {"retry_after": retry_after},
                                    "description": f"Too Many Requests: retry after {retry_after}"}).encode()
        self._window.append(now)
        self._last_to_chat[chat_id] = now
        self.accepted.append((now, chat_id, params))
        message = {"message_id": self.requests, "date": 0, "chat": {"id": chat_id, "type": "private"}}
        return 200, json.dumps({"ok": True, "result": message}).encode()

    def _over_limit(self, chat_id: int, now: float) -> int | None:
        while self._window and self._window[0] <= now - 1.0:
            self._window.popleft()
        if len(self._window) >= self.limit:
            return 1
        last = self._last_to_chat.get(chat_id)
        if last is not None and now - last < 1.0:
            return 1
        return None

    def busiest_second(self) -> int:
        times = [t for t, _, _ in self.accepted]
        busiest = first = 0
        for last, t in enumerate(times):
            while times[first] <= t - 1.0:
                first += 1
            busiest = max(busiest, last - first + 1)
        return busiest


async def broadcast(tmp_path: Path, telegram: LimitedTelegram, recipients: int, paid: bool) -> Outbox:
    storage = Storage(tmp_path / "db.sqlite3")
    outbox = Outbox(storage)
    created, _ = outbox.create("pace", topics=["h1b"], html="<b>Update</b>", recipients=list(range(1, recipients + 1)),
                               paid=paid)
    bot = Bot(TOKEN, request=telegram, get_updates_request=telegram)
    await Broadcaster(bot, storage).run(created.id)
    return outbox


@pytest.mark.parametrize(("limits", "limit"), [(FREE, FREE_LIMIT), (PAID, PAID_LIMIT)])
def test_limits_leave_room_under_telegrams_limit(limits: Limits, limit: int) -> None:
    # Fewer than burst + rate sends in any second, so at most `limit` even when 20 ms of jitter
    # between our clock and Telegram's squeezes a little more than a second of sends into one.
    assert limits.most_per_second + 0.02 * limits.rate < limit + 1
    # A group is paced at once, and what the bucket holds beyond it makes up late wake-ups.
    assert limits.group <= limits.burst
    assert (limits.burst - limits.group) / limits.rate >= LATENESS


@pytest.mark.parametrize(("paid", "limits", "limit", "recipients"), [(False, FREE, FREE_LIMIT, 150),
                                                                    (True, PAID, PAID_LIMIT, 3000)])
def test_pace_stays_under_the_limit_and_makes_up_late_wake_ups(
    tmp_path: Path, paid: bool, limits: Limits, limit: int, recipients: int
) -> None:
    telegram = LimitedTelegram(limit)
    outbox = run_virtual(broadcast(tmp_path, telegram, recipients, paid))
    assert telegram.rejected == []
    assert sorted(chat for _, chat, _ in telegram.accepted) == list(range(1, recipients + 1))
    assert outbox.progress(1)[SENT] == recipients
    assert telegram.busiest_second() <= limits.most_per_second
    first, last = telegram.accepted[0][0], telegram.accepted[-1][0]
    # Every wake-up came up to 3 ms late; the pace lost none of it.
    assert (recipients - 1) / (last - first) >= 0.99 * limits.rate
    assert all((p.get("allow_paid_broadcast") == "true") == paid for _, _, p in telegram.accepted)


def test_after_a_429_pause_the_pace_resumes_without_a_burst(tmp_path: Path) -> None:
    telegram = LimitedTelegram(FREE_LIMIT, flood_at={40: 3})
    outbox = run_virtual(broadcast(tmp_path, telegram, 150, paid=False))
    ((flood_time, flooded_chat, why),) = telegram.rejected  # no 429 followed the injected one
    assert why == "injected"
    after = [t for t, _, _ in telegram.accepted if t > flood_time]
    assert after[0] - flood_time >= 3.0, "everyone waited out retry_after"
    assert next(t for t, chat, _ in telegram.accepted if chat == flooded_chat) - flood_time >= 3.0
    assert sum(1 for t in after if t < after[0] + 1.0) <= FREE.most_per_second
    assert sorted(chat for _, chat, _ in telegram.accepted) == list(range(1, 151))
    assert outbox.progress(1)[SENT] == 150
