"""Run the bot: long polling by default, a webhook when VISABOT_WEBHOOK_URL is set.

Both stop cleanly on SIGINT and SIGTERM. In webhook mode the bot registers the secret token with
Telegram and serves the webhook itself (bot/runtime/webhook.py): secret first, body capped, junk refused.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import signal
import sys
from pathlib import Path
from typing import IO
from urllib.parse import urlparse

from telegram import Bot, Update
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import Application

from bot.config import Settings
from bot.logs import configure_logging
from bot.runtime.app import build_application
from bot.runtime.http_client import AiohttpRequest, without_token
from bot.runtime.webhook import WebhookServer

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
    token = settings.telegram_bot_token.get_secret_value()
    configure_logging(token)
    lock = _hold_instance_lock(settings.db_path)
    try:
        try:
            asyncio.run(check_telegram(settings))
        except StartupError as exc:
            # One plain line instead of a traceback: PTB's errors quote the token, and a wrong
            # token or URL is a settings problem, not a crash.
            print(str(exc).replace(token, "[REDACTED]"), file=sys.stderr)
            raise SystemExit(2) from None
        application = build_application(settings)
        entries = len(application.bot_data.matcher)
        pid_file = settings.db_path.parent / PID_FILE_NAME
        pid_file.write_text(str(os.getpid()))  # lets `visabot kb reload` find the running bot
        try:
            _run(application, settings, entries)
        except (TelegramError, StartupError) as exc:  # the network or Telegram failed after the check
            print(f"The bot stopped: {without_token(str(exc)).replace(token, '[REDACTED]')}", file=sys.stderr)
            raise SystemExit(2) from None
        finally:
            pid_file.unlink(missing_ok=True)
    finally:
        lock.close()


def _run(application: Application, settings: Settings, entries: int) -> None:  # type: ignore[type-arg]
    if settings.webhook_url:
        log.info("starting webhook on %s:%s%s with %d entries", settings.listen, settings.port,
                 urlparse(settings.webhook_url).path, entries)
        asyncio.run(_serve_webhook(application, settings))
    else:
        log.info("starting long polling with %d entries", entries)
        application.run_polling(allowed_updates=Update.ALL_TYPES)


async def _serve_webhook(application: Application, settings: Settings) -> None:  # type: ignore[type-arg]
    """The Application's life around our own webhook server (bot/runtime/webhook.py says why not PTB's):
    start, register the webhook with its secret, serve until SIGINT or SIGTERM, stop cleanly."""
    assert settings.webhook_url is not None and settings.webhook_secret is not None
    secret = settings.webhook_secret.get_secret_value()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server = WebhookServer(
        application, path=urlparse(settings.webhook_url).path, secret=secret, listen=settings.listen, port=settings.port
    )
    await application.initialize()
    try:
        if application.post_init is not None:
            await application.post_init(application)
        await application.start()
        try:
            try:
                await server.start()
            except OSError as exc:  # the port is taken, or the address is not this machine's
                raise StartupError(
                    f"cannot serve the webhook on {settings.listen}:{settings.port} ({exc.strerror or exc}): "
                    "check VISABOT_LISTEN and VISABOT_PORT."
                ) from None
            try:
                await application.bot.set_webhook(settings.webhook_url, secret_token=secret, allowed_updates=Update.ALL_TYPES)
                await stop.wait()
            finally:
                await server.stop()
        finally:
            await application.stop()
            if application.post_stop is not None:
                await application.post_stop(application)
    finally:
        await application.shutdown()
        if application.post_shutdown is not None:
            await application.post_shutdown(application)


class StartupError(Exception):
    """The bot cannot start with these settings (Telegram refuses them, or the webhook's address
    cannot be used); the message says why, without the token."""


async def check_telegram(settings: Settings) -> None:
    """Call getMe before starting: a rejected token or an unreachable API ends in one plain message.

    Transient network errors (no network yet at boot, a DNS hiccup) are retried with doubling
    back-off, announced once; VISABOT_STARTUP_ATTEMPTS and VISABOT_STARTUP_BACKOFF tune it.
    """
    assert settings.telegram_bot_token is not None
    request = AiohttpRequest(1)
    bot = Bot(
        settings.telegram_bot_token.get_secret_value(),
        base_url=settings.telegram_api_base_url,
        request=request,
        get_updates_request=request,
    )
    host = urlparse(settings.telegram_api_base_url).netloc or settings.telegram_api_base_url
    delay = settings.startup_backoff
    await request.initialize()
    try:
        for attempt in range(1, settings.startup_attempts + 1):
            try:
                await bot.get_me()
                return
            except InvalidToken:
                raise StartupError(
                    f"Telegram rejected TELEGRAM_BOT_TOKEN (at {host}): check the token @BotFather gave you, "
                    "and TELEGRAM_API_BASE_URL."
                ) from None
            except NetworkError as exc:
                if attempt == settings.startup_attempts:
                    raise StartupError(
                        f"Cannot reach the Telegram Bot API at {host} after {attempt} attempt(s) "
                        f"({without_token(str(exc))}): check the network and TELEGRAM_API_BASE_URL."
                    ) from None
                if attempt == 1:
                    log.warning(
                        "cannot reach the Telegram Bot API at %s; retrying up to %d times with back-off",
                        host,
                        settings.startup_attempts - 1,
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_STARTUP_BACKOFF)
            except TelegramError as exc:
                raise StartupError(f"Telegram refused to start the bot (at {host}): {without_token(str(exc))}") from None
    finally:
        await request.shutdown()


MAX_STARTUP_BACKOFF = 30.0
