"""Settings from the environment and `.env`, validated once at start-up.

Every setting is documented in `.env.example` and the README. The token is a SecretStr so it never
appears in a repr, a log line or an error message.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from knowledge import DEFAULT_KNOWLEDGE_DIR

TELEGRAM_API_BASE_URL = "https://api.telegram.org/bot"
TELEGRAM_API_FILE_URL = "https://api.telegram.org/file/bot"


def env_file() -> Path:
    """The `.env` to read: next to the project, whatever the current folder.

    Reading `./.env` made `.venv/bin/visabot` run from another folder say "TELEGRAM_BOT_TOKEN is
    not set" although `.env` existed. The project is the checkout this code runs from (`make`
    installs it editable); installed as a plain package, the current folder's `.env` is read.
    VISABOT_ENV_FILE names another file (the tests point it at nothing, so a developer's `.env`
    cannot leak into them).
    """
    chosen = os.environ.get("VISABOT_ENV_FILE")
    if chosen is not None:
        return Path(chosen)
    project = Path(__file__).resolve().parents[1]
    return project / ".env" if (project / "pyproject.toml").is_file() else Path(".env")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file_encoding="utf-8", extra="ignore")

    telegram_bot_token: SecretStr | None = Field(default=None, alias="TELEGRAM_BOT_TOKEN")
    telegram_api_base_url: str = Field(default=TELEGRAM_API_BASE_URL, alias="TELEGRAM_API_BASE_URL")
    telegram_api_file_url: str = Field(default=TELEGRAM_API_FILE_URL, alias="TELEGRAM_API_FILE_URL")
    admin_ids: Annotated[frozenset[int], NoDecode] = Field(default=frozenset(), alias="VISABOT_ADMIN_IDS")
    db_path: Path = Field(default=Path("data/visabot.sqlite3"), alias="VISABOT_DB_PATH")
    knowledge_dir: Path = Field(default=DEFAULT_KNOWLEDGE_DIR, alias="VISABOT_KNOWLEDGE_DIR")
    webhook_url: str | None = Field(default=None, alias="VISABOT_WEBHOOK_URL")
    webhook_secret: SecretStr | None = Field(default=None, alias="VISABOT_WEBHOOK_SECRET")
    listen: str = Field(default="127.0.0.1", alias="VISABOT_LISTEN")
    port: int = Field(default=8443, ge=1, le=65535, alias="VISABOT_PORT")
    paid_broadcast: bool = Field(default=False, alias="VISABOT_PAID_BROADCAST")
    # Off: log lines never quote what users typed (only lengths and ids). On: lines a maintainer
    # reads to follow up (e.g. /gaps actions) quote the question. The token is never logged.
    log_user_text: bool = Field(default=False, alias="VISABOT_LOG_USER_TEXT")
    # Start-up check of the token and the API (bot/runtime/runner.py): tries, and the first pause in
    # seconds (doubling each time) when the network is down.
    startup_attempts: int = Field(default=6, ge=1, le=100, alias="VISABOT_STARTUP_ATTEMPTS")
    startup_backoff: float = Field(default=1.0, ge=0, le=60, alias="VISABOT_STARTUP_BACKOFF")
    # "daily": the running bot checks every cited page once a day (bot/sources/daily_job.py) and tells the
    # admins when entries enter the review queue (/changes). Off by default: it fetches ~300 pages.
    source_watch: Literal["off", "daily"] = Field(default="off", alias="VISABOT_SOURCE_WATCH")

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _parse_admin_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            bad = [p for p in parts if not p.lstrip("-").isdigit()]
            if bad:
                raise ValueError(f"not numeric Telegram user ids: {', '.join(bad)}")
            # User ids are positive; a negative id is a group or channel and can never be an admin.
            not_users = [p for p in parts if int(p) <= 0]
            if not_users:
                raise ValueError(f"not user ids (groups and channels are negative): {', '.join(not_users)}")
            return frozenset(int(p) for p in parts)
        return value

    @field_validator("telegram_bot_token", "webhook_secret", "webhook_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("knowledge_dir")
    @classmethod
    def _knowledge_dir_exists(cls, value: Path) -> Path:
        if not (value / "entries").is_dir():
            raise ValueError(f"{value} has no entries/ folder")
        return value


_TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class BotSettings(Settings):
    """Settings for running the Telegram bot: the token is required and webhooks are complete."""

    telegram_bot_token: SecretStr = Field(alias="TELEGRAM_BOT_TOKEN")

    @field_validator("telegram_bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        if not _TOKEN_RE.match(value.get_secret_value()):
            raise ValueError("does not look like a bot token from @BotFather (digits:letters)")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _https_webhook(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("https://"):
            raise ValueError("must be an https:// URL (Telegram only calls https webhooks)")
        return value

    # Validated even when unset, so a webhook without a secret is reported with the other problems.
    webhook_secret: SecretStr | None = Field(default=None, alias="VISABOT_WEBHOOK_SECRET", validate_default=True)

    @field_validator("webhook_secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None and info.data.get("webhook_url"):
            raise ValueError("is required when VISABOT_WEBHOOK_URL is set")
        if value is not None and not _SECRET_RE.match(value.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value


MISSING_HINTS = {"TELEGRAM_BOT_TOKEN": "create a bot with @BotFather and put its token in .env"}


class SettingsError(Exception):
    """Settings are missing or invalid; the message names every problem, one per line."""


def load_settings(settings_class: type[Settings] = Settings, **overrides: object) -> Settings:
    """Settings from the environment, then `env_file()`; `overrides` (tests) win over both."""
    overrides.setdefault("_env_file", env_file())
    try:
        return settings_class(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        aliases = {name: field.alias for name, field in settings_class.model_fields.items() if field.alias}
        lines = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else ""
            name = aliases.get(name, name)
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "missing" or (err.get("input", "") is None and err["type"] != "value_error"):
                hint = MISSING_HINTS.get(name)
                msg = f"is not set ({hint})" if hint else "is not set"
            lines.append(f"{name}: {msg}" if name else msg)
        raise SettingsError("\n".join(lines)) from None
