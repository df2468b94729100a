"""Typed bot_data shared by all handlers (PTB's ContextTypes instead of string keys)."""

from __future__ import annotations

from dataclasses import dataclass, field

from telegram.ext import CallbackContext, ContextTypes, ExtBot

from bot.broadcast_jobs import BroadcastJobs
from bot.config import Settings
from bot.flood import FloodGuard
from bot.outbox import Outbox
from bot.storage import Storage
from bot.subscriptions import Subscriptions
from knowledge.matcher import Matcher


@dataclass
class BotData:
    """Shared state of one running bot. PTB creates it empty; build_application fills it."""

    settings: Settings | None = None
    matcher: Matcher | None = None
    storage: Storage | None = None
    flood: FloodGuard = field(default_factory=FloodGuard)
    jobs: BroadcastJobs | None = None

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

    def is_admin(self, user_id: int | None) -> bool:
        return self.settings is not None and user_id is not None and user_id in self.settings.admin_ids


Context = CallbackContext[ExtBot[None], dict, dict, BotData]  # type: ignore[type-arg]
CONTEXT_TYPES = ContextTypes(bot_data=BotData)
