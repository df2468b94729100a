"""Run the bot: long polling by default, a webhook when VISABOT_WEBHOOK_URL is set.

PTB's run_polling/run_webhook stop cleanly on SIGINT and SIGTERM. In webhook mode PTB registers
the secret token with Telegram and answers 403 to requests without the right
X-Telegram-Bot-Api-Secret-Token header.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sys
from pathlib import Path
from typing import IO
from urllib.parse import urlparse

from telegram import Update
from telegram.ext import Application

from bot.app import build_application
from bot.config import Settings
from bot.logs import configure_logging

log = logging.getLogger(__name__)
PID_FILE_NAME = "visabot.pid"


def instance_lock_path(db_path: Path) -> Path:
    """The lock file a running bot holds for its whole life, next to its database."""
    return db_path.with_name(db_path.name + ".lock")


def lock_is_held(db_path: Path) -> bool:
    """True when a bot holds the instance lock of this database (how `kb reload` tells a live
    pid file from one left by a killed bot, whose pid may since name another process)."""
    try:
        with open(instance_lock_path(db_path), "rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except FileNotFoundError:
        return False
    except BlockingIOError:
        return True
    return False  # we got it (released on close): nobody holds it


def _hold_instance_lock(db_path: Path) -> IO[bytes]:
    """One bot per database: two would both poll (Telegram answers one with 409 Conflict), and the
    second used to overwrite the pid file and delete it on exit. The kernel drops the lock when
    the process ends, even by SIGKILL, so a crash never leaves it stuck. Exits 2 if taken."""
    path = instance_lock_path(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "ab")  # noqa: SIM115 -- held open for the process's life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        print(f"Another visabot is already running with the database {db_path}; not starting a second one.", file=sys.stderr)
        sys.exit(2)
    return handle


def run_bot(settings: Settings) -> None:
    assert settings.telegram_bot_token is not None
    lock = _hold_instance_lock(settings.db_path)
    try:
        configure_logging(settings.telegram_bot_token.get_secret_value())
        application = build_application(settings)
        entries = len(application.bot_data.kb)
        pid_file = settings.db_path.parent / PID_FILE_NAME
        pid_file.write_text(str(os.getpid()))  # lets `visabot kb reload` find the running bot
        try:
            _run(application, settings, entries)
        finally:
            pid_file.unlink(missing_ok=True)
    finally:
        lock.close()


def _run(application: Application, settings: Settings, entries: int) -> None:  # type: ignore[type-arg]
    if settings.webhook_url:
        assert settings.webhook_secret is not None
        path = urlparse(settings.webhook_url).path.lstrip("/")
        log.info("starting webhook on %s:%s/%s with %d entries", settings.listen, settings.port, path, entries)
        application.run_webhook(
            listen=settings.listen,
            port=settings.port,
            url_path=path,
            webhook_url=settings.webhook_url,
            secret_token=settings.webhook_secret.get_secret_value(),
            allowed_updates=Update.ALL_TYPES,
        )
    else:
        log.info("starting long polling with %d entries", entries)
        application.run_polling(allowed_updates=Update.ALL_TYPES)
