"""Run the bot: long polling by default, a webhook when VISABOT_WEBHOOK_URL is set.

PTB's run_polling/run_webhook stop cleanly on SIGINT and SIGTERM. In webhook mode PTB registers
the secret token with Telegram and answers 403 to requests without the right
X-Telegram-Bot-Api-Secret-Token header.
"""

from __future__ import annotations

import logging
from urllib.parse import urlparse

from telegram import Update

from bot.app import build_application
from bot.config import Settings
from bot.logs import configure_logging

log = logging.getLogger(__name__)


def run_bot(settings: Settings) -> None:
    assert settings.telegram_bot_token is not None
    configure_logging(settings.telegram_bot_token.get_secret_value())
    application = build_application(settings)
    entries = len(application.bot_data.kb)
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
