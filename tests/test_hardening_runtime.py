"""Issue 11: start-up failures end in one plain line without the token; a malformed update is
skipped, not polled forever; admin ids must be user ids."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest

from bot.config import BotSettings, SettingsError, load_settings
from bot.delivery.subscriptions import Subscriptions
from bot.storage import Storage
from tests.bot_harness import TOKEN, clean_env, running_bot
from tests.cli import VISABOT, visabot
from tests.fake_telegram import FakeTelegram, make_callback_query, make_private_text
from tests.test_telegram_process import free_port


def startup_env(tmp_path: Path, **env: str) -> dict[str, str]:
    return {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "VISABOT_DB_PATH": str(tmp_path / "db.sqlite3"),
        "VISABOT_STARTUP_ATTEMPTS": "3",
        "VISABOT_STARTUP_BACKOFF": "0.05",
        **env,
    }


def run_visabot(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`visabot ARGS` as a process: what a user's terminal shows, log lines included."""
    return subprocess.run(
        [VISABOT, *args], check=False, cwd=tmp_path, env={**clean_env(), **startup_env(tmp_path, **env)},
        capture_output=True, text=True, timeout=60,
    )


def test_rejected_token_is_one_plain_line_without_the_token(tmp_path: Path) -> None:
    with FakeTelegram(token="999:another-token-entirely") as fake:  # our token gets 401
        done = run_visabot(tmp_path, "run", TELEGRAM_API_BASE_URL=fake.base_url)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "rejected TELEGRAM_BOT_TOKEN" in output
    assert TOKEN not in output and TOKEN.split(":")[1] not in output
    assert "Traceback" not in output


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:{port}/bot", "http://no-such-host.invalid/bot"])
def test_unreachable_api_retries_then_one_plain_line(tmp_path: Path, base_url: str) -> None:
    # In-process: the log lines go to CliRunner's stderr too (bot/logs.py writes to stderr), and
    # an unclosed aiohttp session would be a ResourceWarning, an error under pytest's settings.
    env = startup_env(tmp_path, TELEGRAM_API_BASE_URL=base_url.format(port=free_port()))
    done = visabot("run", env=env)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Cannot reach the Telegram Bot API" in output
    assert output.count("retrying up to 2 times") == 1  # said once, not per attempt
    assert TOKEN not in output and TOKEN.split(":")[1] not in output
    assert "Traceback" not in output and "Unclosed" not in output


@pytest.mark.parametrize("where", ["fake", "closed port"])
def test_broadcast_send_never_prints_the_token_whatever_the_base_url(tmp_path: Path, where: str) -> None:
    message = tmp_path / "news.html"
    message.write_text("<b>News</b>: the fee changed.")
    Subscriptions(Storage(tmp_path / "db.sqlite3")).subscribe(1001, ["h1b"])
    with FakeTelegram() as fake:
        port = fake.port if where == "fake" else free_port()
        env = {"TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{port}/api/"}  # not ending in /bot
        sent = run_visabot(tmp_path, "broadcast", "send", "--topic", "h1b", "--file", str(message), **env)
        status = run_visabot(tmp_path, "broadcast", "status", "1", **env)
    output = sent.stdout + sent.stderr + status.stdout + status.stderr
    assert sent.returncode == 2, output
    assert "Cannot use the Bot API" in output and "Traceback" not in output  # reported plainly...
    assert TOKEN not in output and TOKEN.split(":")[1] not in output, output  # ...without the token


async def test_malformed_update_is_skipped_and_the_next_answered(
    fake_telegram: FakeTelegram, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret_text = "my secret passport number 12345"
    bad_message = make_private_text(secret_text)
    bad_message["message"]["entities"] = "not-a-list"
    bad_callback = make_callback_query("t:h1b", message_text=secret_text)
    del bad_callback["callback_query"]["chat_instance"]
    caplog.set_level(logging.DEBUG)
    async with running_bot(fake_telegram, tmp_path):
        bad_id = fake_telegram.push_update(bad_message)
        bad_callback_id = fake_telegram.push_update(bad_callback)
        fake_telegram.push_update(make_private_text("What is the H-1B master's cap?"))
        (reply,) = await fake_telegram.wait_for("sendMessage", timeout=10)
        # The poll after the reply: it confirms every update so far (offset past them all), so
        # the bad ones are not fetched again and again, and it waits for new ones (long polling).
        later = await fake_telegram.wait_for(
            "getUpdates", lambda c: int(c.params.get("offset", 0)) > max(bad_id, bad_callback_id)
        )
    assert "20,000" in (reply.text or "")
    assert float(later[0].params.get("timeout", 0)) > 0
    assert f"skipping update {bad_id} (message)" in caplog.text
    assert f"skipping update {bad_callback_id} (callback_query)" in caplog.text
    assert secret_text not in caplog.text


@pytest.mark.parametrize("value", ["-100123", "12,-5", "abc", "0"])
def test_admin_ids_must_be_positive_user_ids(value: str) -> None:
    with pytest.raises(SettingsError, match="VISABOT_ADMIN_IDS"):
        load_settings(BotSettings, _env_file=None, TELEGRAM_BOT_TOKEN=TOKEN, VISABOT_ADMIN_IDS=value)
