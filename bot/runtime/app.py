"""The composition root: build the PTB Application from settings; nothing runs at import time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from telegram import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    LinkPreviewOptions,
)
from telegram.constants import ParseMode
from telegram.ext import Application, ApplicationBuilder, Defaults

import handlers
from bot.config import Settings
from bot.delivery.jobs import BroadcastJobs
from bot.runtime.commands import Scope, commands_for
from bot.runtime.context import CONTEXT_TYPES, BotData
from bot.runtime.http_client import AiohttpRequest, UpdatesRequest
from bot.sources.daily_job import DailySourceWatch
from bot.storage import Storage
from knowledge.loader import load_knowledge_base, report_skipped
from knowledge.matcher import Matcher

log = logging.getLogger(__name__)
# Connections for replies and broadcasts; with concurrent updates each update may hold one.
CONNECTION_POOL_SIZE = 256


async def _start_up(application: Application) -> None:  # type: ignore[type-arg]
    """After the bot is initialised: publish the command menus, resume interrupted broadcasts."""
    await _set_commands(application)
    data: BotData = application.bot_data
    data.jobs = BroadcastJobs(application.bot, data.db, data.matcher.base)
    resumed = data.jobs.resume_unfinished()
    if resumed:
        log.info("resuming interrupted broadcast(s) %s", resumed)
    data.tell_watchers(data.matcher.base)  # entries changed while the bot was down
    settings = data.settings
    if settings is not None and settings.source_watch == "daily":
        data.source_job = DailySourceWatch(application.bot, data.db, lambda: data.matcher.base, settings.admin_ids)
        data.source_job.start()
    # SIGHUP (sent by `visabot kb reload`) reloads the knowledge base without a restart.
    with contextlib.suppress(NotImplementedError, RuntimeError):  # no signals outside the main thread
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, data.reload)


async def _set_commands(application: Application) -> None:  # type: ignore[type-arg]
    for scope, tg_scope in ((Scope.PRIVATE, BotCommandScopeAllPrivateChats()), (Scope.GROUP, BotCommandScopeAllGroupChats())):
        for language_code, chinese in ((None, False), ("zh", True)):  # a Chinese-language app shows the zh menu
            commands = [BotCommand(c.name, c.describe(chinese)) for c in commands_for(scope)]
            await application.bot.set_my_commands(commands, scope=tg_scope, language_code=language_code)


async def _stop_broadcasts(application: Application) -> None:  # type: ignore[type-arg]
    """Before the HTTP client closes; a stopped broadcast resumes at the next start, an
    interrupted source check runs again at the next."""
    data: BotData = application.bot_data
    if data.source_job is not None:
        await data.source_job.stop()
    if data.jobs is not None:
        await data.jobs.stop()


async def _close_storage(application: Application) -> None:  # type: ignore[type-arg]
    data: BotData = application.bot_data
    if data.storage is not None:
        data.storage.close()


def build_application(settings: Settings, matcher: Matcher | None = None) -> Application:  # type: ignore[type-arg]
    """Wire settings, knowledge base, storage and handlers into an Application.

    The knowledge base is loaded and indexed here, once; pass `matcher` to reuse an index.
    """
    if settings.telegram_bot_token is None:
        raise ValueError("build_application needs TELEGRAM_BOT_TOKEN")
    application = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_api_base_url)
        .base_file_url(settings.telegram_api_file_url)
        .context_types(CONTEXT_TYPES)
        .defaults(Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)))
        .concurrent_updates(CONNECTION_POOL_SIZE)
        # aiohttp instead of PTB's httpx default: the difference between 42 and 300+ answers/s.
        .request(AiohttpRequest(CONNECTION_POOL_SIZE))
        .get_updates_request(UpdatesRequest(1))
        .post_init(_start_up)
        .post_stop(_stop_broadcasts)
        .post_shutdown(_close_storage)
        .build()
    )
    data: BotData = application.bot_data
    data.settings = settings
    if matcher is None:
        base = load_knowledge_base(settings.knowledge_dir, skip_invalid=True)
        report_skipped(base.skipped)
        matcher = Matcher(base)
    data.current_matcher = matcher
    data.storage = Storage(settings.db_path)
    handlers.register(application)
    return application
