"""Logging set-up that can never print the bot token.

Bot API URLs contain the token. The bot's client (bot/runtime/http_client.py) logs no URLs and
masks them in its errors; httpx, which PTB still imports and which logs every URL at INFO, is
kept at WARNING; and a filter redacts the token from any record as a last line of defence.
"""

from __future__ import annotations

import logging


class RedactToken(logging.Filter):
    def __init__(self, secret: str):
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secret:
            message = record.getMessage()
            if self.secret in message:
                record.msg, record.args = message.replace(self.secret, "[REDACTED]"), None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = record.exc_text.replace(self.secret, "[REDACTED]")
        return True


def configure_logging(token: str | None, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if token:
        handler.addFilter(RedactToken(token))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


MAX_LOGGED_USER_TEXT = 200


def user_text(text: str, enabled: bool) -> str:
    """What a log line may say about something a user typed: the text itself (shortened) only when
    VISABOT_LOG_USER_TEXT is on, otherwise just its length."""
    if enabled:
        return repr(text if len(text) <= MAX_LOGGED_USER_TEXT else text[:MAX_LOGGED_USER_TEXT] + "…")
    return f"<{len(text)} chars, not logged>"
