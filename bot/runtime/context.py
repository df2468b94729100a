"""Typed bot_data shared by all handlers (PTB's ContextTypes instead of string keys)."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from telegram.ext import CallbackContext, ContextTypes, ExtBot

from bot.config import Settings
from bot.delivery.jobs import BroadcastJobs
from bot.delivery.outbox import Outbox
from bot.delivery.subscriptions import Subscriptions
from bot.delivery.watch import notify_watchers
from bot.runtime.flood import FloodGuard
from bot.sources.daily_job import DailySourceWatch
from bot.storage import Storage
from knowledge.loader import (
    KnowledgeBase,
    KnowledgeError,
    Problem,
    load_knowledge_base,
    report_skipped,
)
from knowledge.matcher import Matcher

log = logging.getLogger(__name__)


RECENT_QUESTIONS = 5000
FOLLOWUP_SECONDS = 600  # a private message this soon after an answer may build on it


@dataclass
class BotData:
    """Shared state of one running bot. PTB creates it empty; build_application fills it."""

    settings: Settings | None = None
    current_matcher: Matcher | None = None  # swapped whole on reload; read it as `matcher`
    storage: Storage | None = None
    flood: FloodGuard = field(default_factory=FloodGuard)
    jobs: BroadcastJobs | None = None
    source_job: DailySourceWatch | None = None  # VISABOT_SOURCE_WATCH=daily
    # Which question led to which answer message, so a 👎 can tell maintainers what was asked.
    # Memory only, bounded, never written with a user id.
    recent_questions: OrderedDict[tuple[int, int], str] = field(default_factory=OrderedDict)
    # Which entry each answer message showed, and each chat's latest answer with its time, so a
    # reply or a quick follow-up ("and for the K visa?") is read in context. Memory only, bounded.
    recent_answers: OrderedDict[tuple[int, int], str] = field(default_factory=OrderedDict)
    last_answer: OrderedDict[int, tuple[str, float]] = field(default_factory=OrderedDict)

    def remember_question(self, chat_id: int, message_id: int, text: str) -> None:
        self.recent_questions[(chat_id, message_id)] = text
        while len(self.recent_questions) > RECENT_QUESTIONS:
            self.recent_questions.popitem(last=False)

    def remember_answer(self, chat_id: int, message_id: int, entry_id: str) -> None:
        self.recent_answers[(chat_id, message_id)] = entry_id
        self.last_answer[chat_id] = (entry_id, time.monotonic())
        self.last_answer.move_to_end(chat_id)
        for recent in (self.recent_answers, self.last_answer):
            while len(recent) > RECENT_QUESTIONS:
                recent.popitem(last=False)

    def context_entry_id(self, chat_id: int, replied_to: int | None, private: bool) -> str | None:
        """The entry a message follows up on: the answer it replies to, or in a private chat the
        latest answer if it came less than FOLLOWUP_SECONDS ago."""
        if replied_to is not None and (chat_id, replied_to) in self.recent_answers:
            return self.recent_answers[(chat_id, replied_to)]
        last = self.last_answer.get(chat_id)
        if private and last is not None and time.monotonic() - last[1] < FOLLOWUP_SECONDS:
            return last[0]
        return None

    def forget_chat(self, chat_id: int) -> None:
        """Drop everything held in memory about a chat (/forget)."""
        for recent in (self.recent_questions, self.recent_answers):
            for key in [k for k in recent if k[0] == chat_id]:
                recent.pop(key, None)
        self.last_answer.pop(chat_id, None)

    @property
    def matcher(self) -> Matcher:
        """The matcher serving now (over the current knowledge base: `matcher.base`)."""
        assert self.current_matcher is not None, "build_application sets the matcher"
        return self.current_matcher

    @property
    def db(self) -> Storage:
        assert self.storage is not None, "build_application sets the storage"
        return self.storage

    @property
    def subscriptions(self) -> Subscriptions:
        return Subscriptions(self.db)

    @property
    def outbox(self) -> Outbox:
        return Outbox(self.db)

    def reload(self, base: KnowledgeBase | None = None) -> list[Problem]:
        """Swap in the knowledge base from disk (or `base`, already loaded). Invalid files are left
        out and logged (the rest serves); only a folder with no valid entry is refused, with its
        problems, and the current base keeps serving."""
        if base is None:
            assert self.settings is not None
            try:
                base = load_knowledge_base(self.settings.knowledge_dir, skip_invalid=True)
            except KnowledgeError as exc:
                log.error("reload refused: %d problem(s); still serving the previous knowledge base", len(exc.problems))
                return exc.problems
        report_skipped(base.skipped)
        self.current_matcher = Matcher(base)  # one assignment: handlers see the old index or the new one
        log.info("knowledge base reloaded: %d entries", len(base.entries))
        if self.jobs is not None:
            self.jobs.kb = base
            self.tell_watchers(base)
        return []

    def tell_watchers(self, base: KnowledgeBase) -> None:
        """Queue a notice to the watchers of each entry whose answer, status or history changed
        (bot/delivery/watch.py). A failure is logged and never undoes or blocks the reload."""
        assert self.jobs is not None
        try:
            notify_watchers(self.db, base, self.jobs.start_soon)
        except Exception:
            log.exception("could not queue the notices to watchers; they are retried at the next reload")

    def is_admin(self, user_id: int | None) -> bool:
        return self.settings is not None and user_id is not None and user_id in self.settings.admin_ids


Context = CallbackContext[ExtBot[None], dict, dict, BotData]  # type: ignore[type-arg]
CONTEXT_TYPES = ContextTypes(bot_data=BotData)
