"""Run the bot: long polling by default, a webhook when VISABOT_WEBHOOK_URL is set.

PTB's run_polling/run_webhook stop cleanly on SIGINT and SIGTERM. In webhook mode PTB registers
the secret token with Telegram and answers 403 to requests without the right
X-Telegram-Bot-Api-Secret-Token header.
"""

from __future__ import annotations

import logging
import os
from urllib.parse import urlparse

from telegram import Update
from telegram.ext import Application

from bot.app import build_application
from bot.config import Settings
from bot.logs import configure_logging

log = logging.getLogger(__name__)
PID_FILE_NAME = "visabot.pid"


def run_bot(settings: Settings) -> None:
    assert settings.telegram_bot_token is not None
    configure_logging(settings.telegram_bot_token.get_secret_value())
    application = build_application(settings)
    entries = len(application.bot_data.kb)
    pid_file = settings.db_path.parent / PID_FILE_NAME
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(str(os.getpid()))  # lets `visabot kb reload` find the running bot
    try:
        _run(application, settings, entries)
    finally:
        pid_file.unlink(missing_ok=True)


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
