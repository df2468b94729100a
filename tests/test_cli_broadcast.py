"""`visabot broadcast ...` and `visabot subscribers`, in-process against the fake Bot API and a
real SQLite file: refusals send nothing, a send reaches every subscriber of its topics once, and
status tells what happened. (A SIGKILL mid-send is tested in test_broadcast_crash.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.delivery.subscriptions import Subscriptions
from bot.storage import Storage
from tests.bot_harness import TOKEN
from tests.cli import Ran, visabot
from tests.fake_telegram import FakeTelegram

H1B_CHATS = [101, 102, 103]
K_VISA_CHATS = [201]


class Admin:
    """A database with subscribers, and `visabot` run against it and the fake Bot API."""

    def __init__(self, tmp_path: Path, fake: FakeTelegram) -> None:
        self.tmp_path = tmp_path
        self.db = tmp_path / "db.sqlite3"
        self.vars = {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": fake.base_url,
            "TELEGRAM_API_FILE_URL": fake.base_file_url,
            "VISABOT_DB_PATH": str(self.db),
        }
        storage = Storage(self.db)
        subscriptions = Subscriptions(storage)
        for chat in H1B_CHATS:
            subscriptions.subscribe(chat, ["h1b"])
        for chat in K_VISA_CHATS:
            subscriptions.subscribe(chat, ["k-visa"])
        storage.close()

    def message(self, html: str) -> str:
        path = self.tmp_path / "message.html"
        path.write_text(html, encoding="utf-8")
        return str(path)

    def run(self, *args: str, **env: str) -> Ran:
        out = visabot(*args, env={**self.vars, **env})
        assert TOKEN not in out.stdout + out.stderr
        return out


@pytest.fixture
def admin(tmp_path: Path, fake_telegram: FakeTelegram) -> Admin:
    return Admin(tmp_path, fake_telegram)


def test_subscribers_counts_per_topic(admin: Admin) -> None:
    out = admin.run("subscribers")
    assert out.returncode == 0, out.stderr
    assert "h1b: 3" in out.stdout and "k-visa: 1" in out.stdout
    assert "chats with any subscription: 4" in out.stdout
    only = admin.run("subscribers", "--topic", "k-visa")
    assert only.stdout.splitlines() == ["k-visa: 1"]


def test_invalid_message_or_unknown_entry_is_refused_and_nothing_sent(
    admin: Admin, fake_telegram: FakeTelegram
) -> None:
    bad = admin.run("broadcast", "send", "--topic", "h1b", "--file", admin.message("<b>unclosed"))
    assert bad.returncode == 1
    assert "Refused, nothing was sent" in bad.stderr and "<b>" in bad.stderr
    unknown = admin.run(
        "broadcast", "send", "--topic", "h1b", "--file", admin.message("News"), "--entry", "no-such"
    )
    assert unknown.returncode == 1 and "no entry with id 'no-such'" in unknown.stderr
    empty = admin.run("broadcast", "send", "--topic", "h1b", "--file", admin.message("  \n"))
    assert empty.returncode == 1 and "the message is empty" in empty.stderr
    assert fake_telegram.calls("sendMessage") == []
    assert admin.run("broadcast", "status").stdout.strip() == "No broadcasts yet."


def test_dry_run_previews_without_a_token_and_sends_nothing(
    admin: Admin, fake_telegram: FakeTelegram
) -> None:
    out = admin.run(
        "broadcast", "send", "--topic", "h1b", "--topic", "k-visa", "--dry-run",
        "--file", admin.message("<b>H-1B</b> &amp; K visa news"),
        TELEGRAM_BOT_TOKEN="",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Recipients: 4 (topics: h1b, k-visa)" in out.stdout
    assert "Preview (as text):\nH-1B & K visa news" in out.stdout
    assert fake_telegram.calls("sendMessage") == []


def test_send_reaches_each_subscriber_once_and_status_reports_it(
    admin: Admin, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.fail_next("sendMessage", 403)  # the first recipient has blocked the bot
    args = ["broadcast", "send", "--topic", "h1b", "--file", admin.message("<b>Update</b>: news")]
    sent = admin.run(*args, "--entry", "h1b-cap")
    assert sent.returncode == 0, sent.stderr
    assert "broadcast 1 [done] topics=h1b" in sent.stdout
    assert "sent 2, blocked 1, failed 0, remaining 0 of 3" in sent.stdout
    calls = fake_telegram.calls("sendMessage")
    assert sorted(int(c.chat_id) for c in calls) == H1B_CHATS
    assert all("<b>Update</b>: news" in c.text for c in calls)
    # The same message again is the same broadcast: nothing goes out twice.
    again = admin.run(*args, "--entry", "h1b-cap")
    assert "already exists as 1" in again.stdout
    assert len(fake_telegram.calls("sendMessage")) == len(calls)
    listed = admin.run("broadcast", "status")
    assert listed.stdout.startswith("broadcast 1 [done]")
    detail = admin.run("broadcast", "status", "1")
    assert "blocked: chat" in detail.stdout and "403" in detail.stdout
    for unknown in (admin.run("broadcast", "status", "9"), admin.run("broadcast", "resume", "9")):
        assert unknown.returncode == 1 and "No broadcast 9." in unknown.stderr


def test_an_unusable_bot_api_is_one_plain_line_and_the_broadcast_can_resume(
    admin: Admin, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.fail_next("*", 401, "Unauthorized", times=100)
    out = admin.run("broadcast", "send", "--topic", "k-visa", "--file", admin.message("News"))
    assert out.returncode == 2
    assert "Cannot use the Bot API" in out.stderr and "broadcast resume 1" in out.stderr
