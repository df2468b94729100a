"""Per-user flood guard for every update a user sends (messages, commands, buttons, inline
queries): more than MAX_UPDATES in WINDOW_SECONDS gets one notice, then silence.

Memory is bounded: users are kept in least-recently-active order, and every check drops the
ones idle for a whole window (they have nothing to remember) and, past `max_users`, the least
recent ones — so a million distinct users cost at most `max_users` small deques."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from enum import Enum

# Generous for a person (typing, tapping through topics), far below a script's rate.
MAX_UPDATES = 20
WINDOW_SECONDS = 10.0
MAX_USERS = 50_000
SLOW_DOWN = "⏳ You're sending messages very fast. Please wait a few seconds, then try again."


class Verdict(Enum):
    ALLOW = "allow"
    WARN = "warn"  # the first update over the limit: say "slow down" once
    SILENT = "silent"  # still over the limit: ignore until the window passes


class FloodGuard:
    def __init__(
        self,
        limit: int = MAX_UPDATES,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        max_users: int = MAX_USERS,
    ):
        self.limit, self.window, self.clock, self.max_users = limit, window, clock, max_users
        self._recent: OrderedDict[int, deque[float]] = OrderedDict()  # least recently active first
        self._warned: set[int] = set()

    def __len__(self) -> int:
        return len(self._recent)

    def check(self, user_id: int) -> Verdict:
        now = self.clock()
        self._evict(now)
        recent = self._recent.get(user_id)
        if recent is None:
            recent = self._recent[user_id] = deque()
        self._recent.move_to_end(user_id)
        while recent and now - recent[0] >= self.window:
            recent.popleft()
        if len(recent) < self.limit:
            recent.append(now)
            self._warned.discard(user_id)
            return Verdict.ALLOW
        if user_id in self._warned:
            return Verdict.SILENT
        self._warned.add(user_id)
        return Verdict.WARN

    def _evict(self, now: float) -> None:
        """Drop users idle for a whole window, and the least recent beyond max_users."""
        while self._recent:
            user_id, recent = next(iter(self._recent.items()))
            idle = not recent or now - recent[-1] >= self.window
            if not idle and len(self._recent) < self.max_users:
                break
            del self._recent[user_id]
            self._warned.discard(user_id)
