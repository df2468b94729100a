"""Typed bot_data shared by all handlers (PTB's ContextTypes instead of string keys)."""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field

from telegram.ext import CallbackContext, ContextTypes, ExtBot

from bot.broadcast_jobs import BroadcastJobs
from bot.config import Settings
from bot.flood import FloodGuard
from bot.outbox import Outbox
from bot.storage import Storage
from bot.subscriptions import Subscriptions
from knowledge.loader import KnowledgeBase, KnowledgeError, Problem, load_knowledge_base
from knowledge.matcher import Matcher

log = logging.getLogger(__name__)


RECENT_QUESTIONS = 5000


@dataclass
class BotData:
    """Shared state of one running bot. PTB creates it empty; build_application fills it."""

    settings: Settings | None = None
    matcher: Matcher | None = None
    storage: Storage | None = None
    flood: FloodGuard = field(default_factory=FloodGuard)
    jobs: BroadcastJobs | None = None
    # Which question led to which answer message, so a 👎 can tell maintainers what was asked.
    # Memory only, bounded, never written with a user id.
    recent_questions: OrderedDict[tuple[int, int], str] = field(default_factory=OrderedDict)

    def remember_question(self, chat_id: int, message_id: int, text: str) -> None:
        self.recent_questions[(chat_id, message_id)] = text
        while len(self.recent_questions) > RECENT_QUESTIONS:
            self.recent_questions.popitem(last=False)

    @property
    def kb(self) -> Matcher:
        assert self.matcher is not None, "build_application sets the matcher"
        return self.matcher

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
        """Swap in the knowledge base from disk (or `base`, already validated). An invalid one is
        refused with its problems and the current one keeps serving."""
        if base is None:
            assert self.settings is not None
            try:
                base = load_knowledge_base(self.settings.knowledge_dir)
            except KnowledgeError as exc:
                log.error("reload refused: %d problem(s); still serving the previous knowledge base", len(exc.problems))
                return exc.problems
        self.matcher = Matcher(base)  # one assignment: handlers see the old index or the new one
        if self.jobs is not None:
            self.jobs.kb = base
        log.info("knowledge base reloaded: %d entries", len(base.entries))
        return []

    def is_admin(self, user_id: int | None) -> bool:
        return self.settings is not None and user_id is not None and user_id in self.settings.admin_ids


Context = CallbackContext[ExtBot[None], dict, dict, BotData]  # type: ignore[type-arg]
CONTEXT_TYPES = ContextTypes(bot_data=BotData)
