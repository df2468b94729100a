"""`visabot run` as a real process: polling, webhook secrets, signals, settings errors."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.bot_harness import TOKEN, clean_env
from tests.cli import VISABOT
from tests.fake_telegram import FakeTelegram, make_private_text


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_bot(fake: FakeTelegram, tmp_path: Path, **env: str) -> subprocess.Popen[str]:
    full_env = clean_env()
    full_env.update(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=fake.base_url,
        TELEGRAM_API_FILE_URL=fake.base_file_url,
        VISABOT_DB_PATH=str(tmp_path / "db.sqlite3"),
        **env,
    )
    return subprocess.Popen(
        [VISABOT, "run"],
        cwd=tmp_path,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[int, str]:
    proc.send_signal(sig)
    output, _ = proc.communicate(timeout=20)
    return proc.returncode, output


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_polling_answers_and_stops_cleanly_on_signal(
    fake_telegram: FakeTelegram, tmp_path: Path, sig: int
) -> None:
    proc = start_bot(fake_telegram, tmp_path)
    try:
        fake_telegram.push_update(make_private_text("What is the H-1B master's cap?"))
        (reply,) = fake_telegram.wait_for_sync("sendMessage", timeout=30)
    finally:
        code, output = stop(proc, sig)
    assert "20,000" in reply.text
    assert code == 0, output
    assert "Traceback" not in output
    assert TOKEN not in output and TOKEN.split(":")[1] not in output


def post_update(port: int, path: str, secret: str | None, body: bytes | None = None) -> int:
    if body is None:
        body = json.dumps({"update_id": 99, **make_private_text("H1B cap how many")}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/{path}", data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    if secret is not None:
        request.add_header("X-Telegram-Bot-Api-Secret-Token", secret)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def status_of_partial_post(port: int, path: str, announced: int, body: bytes) -> int:
    """POST without the secret whose headers announce `announced` bytes but send only `body`."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        head = f"POST /{path} HTTP/1.1\r\nHost: x\r\nContent-Length: {announced}\r\n\r\n"
        sock.sendall(head.encode() + body)
        status_line = sock.makefile("rb").readline()  # times out if the server waits for the rest
    return int(status_line.split()[1])


def test_webhook_accepts_only_the_right_secret(fake_telegram: FakeTelegram, tmp_path: Path) -> None:
    port = free_port()
    proc = start_bot(
        fake_telegram,
        tmp_path,
        VISABOT_WEBHOOK_URL="https://bot.example.org/tg-hook",
        VISABOT_WEBHOOK_SECRET="right_Secret-123",
        VISABOT_PORT=str(port),
    )
    try:
        (registered,) = fake_telegram.wait_for_sync("setWebhook", timeout=30)
        deadline = time.monotonic() + 10
        while True:  # the webhook server starts right after setWebhook
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "webhook server did not start"
                time.sleep(0.05)
        assert post_update(port, "tg-hook", "wrong") == 403
        assert post_update(port, "tg-hook", None) == 403
        # Refused before the body is read: 90 MB announced, 1 KB sent (PTB's server waited for it all).
        assert status_of_partial_post(port, "tg-hook", 90 * 1024 * 1024, b"x" * 1024) == 403
        assert post_update(port, "tg-hook", "right_Secret-123", b"not json") == 400  # was 500
        assert post_update(port, "tg-hook", "right_Secret-123") == 200
        (reply,) = fake_telegram.wait_for_sync("sendMessage", timeout=10)
    finally:
        code, output = stop(proc)
    assert registered.params["url"] == "https://bot.example.org/tg-hook"
    assert registered.params["secret_token"] == "right_Secret-123"
    assert "85,000" in reply.text or "65,000" in reply.text
    assert len(fake_telegram.calls("sendMessage")) == 1
    assert code == 0, output


def test_webhook_on_a_taken_port_is_one_plain_message(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        proc = start_bot(
            fake_telegram,
            tmp_path,
            VISABOT_WEBHOOK_URL="https://bot.example.org/tg-hook",
            VISABOT_WEBHOOK_SECRET="right_Secret-123",
            VISABOT_PORT=str(taken.getsockname()[1]),
        )
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, output
    assert "cannot serve the webhook on 127.0.0.1:" in output and "VISABOT_PORT" in output
    assert "Traceback" not in output and TOKEN not in output


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"TELEGRAM_BOT_TOKEN": ""}, ["TELEGRAM_BOT_TOKEN"]),
        (
            {
                "TELEGRAM_BOT_TOKEN": "not-a-token",
                "VISABOT_ADMIN_IDS": "12,abc",
                "VISABOT_PORT": "70000",
            },
            [
                "TELEGRAM_BOT_TOKEN",
                "VISABOT_ADMIN_IDS: not numeric Telegram user ids: abc",
                "VISABOT_PORT",
            ],
        ),
        (
            {"VISABOT_WEBHOOK_URL": "https://x.example.org/h"},
            ["VISABOT_WEBHOOK_SECRET: is required"],
        ),
        (
            {"VISABOT_WEBHOOK_URL": "http://x.example.org/h", "VISABOT_WEBHOOK_SECRET": "s"},
            ["https://"],
        ),
        ({"VISABOT_KNOWLEDGE_DIR": "/nonexistent/kb"}, ["VISABOT_KNOWLEDGE_DIR"]),
    ],
)
def test_settings_errors_name_every_problem(
    tmp_path: Path, env: dict[str, str], expected: list[str]
) -> None:
    full_env = clean_env()
    full_env.update({"TELEGRAM_BOT_TOKEN": "1:abcdef_sECRET-xyz"} | env)
    out = subprocess.run(
        [VISABOT, "run"],
        check=False,
        cwd=tmp_path,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert out.stderr.startswith("Invalid settings:")
    for fragment in expected:
        assert fragment in out.stderr
    assert "Traceback" not in out.stderr
    assert "sECRET" not in out.stderr and "not-a-token" not in out.stderr
