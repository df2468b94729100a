"""Run the real visabot Application (polling) against the fake Bot API server."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.config import BotSettings, load_settings
from bot.replies.html_check import validate_telegram_html, visible_length
from bot.runtime.app import build_application
from knowledge import DEFAULT_KNOWLEDGE_DIR
from knowledge.loader import load_knowledge_base
from knowledge.matcher import Matcher
from tests.fake_telegram import FakeTelegram

TOKEN = "123456:TEST-token_for-the-fake-server"


def clean_env(**env: str) -> dict[str, str]:
    """The environment for a `visabot` process in a test: without the developer's TELEGRAM_ and
    VISABOT_ variables, and without their `.env` (read next to the project whatever the folder)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "VISABOT_"))}
    return {**full, "VISABOT_ENV_FILE": os.devnull, **env}


def bot_settings(fake: FakeTelegram, tmp_path: Path, **overrides: Any) -> BotSettings:
    values: dict[str, Any] = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "TELEGRAM_API_FILE_URL": fake.base_file_url,
        "VISABOT_DB_PATH": tmp_path / "visabot.sqlite3",
        "VISABOT_ADMIN_IDS": "4242",
        **overrides,
    }
    settings = load_settings(BotSettings, _env_file=None, **values)
    assert isinstance(settings, BotSettings)
    return settings


@functools.cache
def shipped_matcher() -> Matcher:
    """The index of the shipped knowledge base, built once per test process. A Matcher is
    read-only (the bot shares one between all its chats; /reload swaps in a new one), so every
    test reading the shipped entries can share it: building it is ~0.5 s under coverage."""
    return Matcher(load_knowledge_base(DEFAULT_KNOWLEDGE_DIR))


@contextlib.asynccontextmanager
async def running_bot(
    fake: FakeTelegram, tmp_path: Path, matcher: Matcher | None = None, **overrides: Any
) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    """Start the bot the way `visabot run` does (initialize, post_init, start, poll); stop after.

    On the shipped knowledge base the bot gets the process's shared index (`shipped_matcher`);
    given a folder of its own (VISABOT_KNOWLEDGE_DIR), it loads and indexes it at start-up."""
    settings = bot_settings(fake, tmp_path, **overrides)
    if matcher is None and settings.knowledge_dir == DEFAULT_KNOWLEDGE_DIR:
        matcher = shipped_matcher()
    application = build_application(settings, matcher=matcher)
    await application.initialize()
    assert application.post_init is not None
    await application.post_init(application)
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(
        poll_interval=0, timeout=1, allowed_updates=Update.ALL_TYPES
    )
    try:
        yield application
    finally:
        await application.updater.stop()
        await application.stop()
        assert application.post_stop is not None
        await application.post_stop(application)
        await application.shutdown()
        assert application.post_shutdown is not None
        await application.post_shutdown(application)


async def all_written(app: Application) -> None:  # type: ignore[type-arg]
    """Wait until every fetched update is handled (PTB marks each done when its handler returns;
    handlers queue their bookkeeping after replying) and every queued write is in the database."""
    await asyncio.wait_for(app.update_queue.join(), timeout=30)
    assert await asyncio.to_thread(app.bot_data.db.bookkeeping.wait_idle, 10)


def assert_valid_reply(text: str) -> None:
    """Every HTML payload must be valid for Telegram and within its length limit."""
    problems = validate_telegram_html(text)
    assert not problems, (problems, text)
    assert visible_length(text) <= 4096
