"""Per-user flood guard: more than 8 questions in 10 seconds gets one notice, then silence."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from enum import Enum

MAX_QUESTIONS = 8
WINDOW_SECONDS = 10.0


class Verdict(Enum):
    ALLOW = "allow"
    WARN = "warn"  # the first message over the limit: say "slow down" once
    SILENT = "silent"  # still over the limit: ignore until the window passes


class FloodGuard:
    def __init__(self, limit: int = MAX_QUESTIONS, window: float = WINDOW_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.limit, self.window, self.clock = limit, window, clock
        self._recent: dict[int, deque[float]] = {}
        self._warned: set[int] = set()

    def check(self, user_id: int) -> Verdict:
        now = self.clock()
        recent = self._recent.setdefault(user_id, deque())
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

    def prune(self) -> None:
        """Forget users with no recent questions, so memory does not grow with every user ever seen."""
        now = self.clock()
        for user_id in [u for u, q in self._recent.items() if not q or now - q[-1] >= self.window]:
            del self._recent[user_id]
            self._warned.discard(user_id)
