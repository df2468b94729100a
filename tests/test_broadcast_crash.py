"""SIGKILL in the middle of a broadcast, then resume: nobody missed, nobody sent twice except
the messages that were in flight at the moment of the kill (and those are reported)."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from bot.delivery.outbox import SENT, Outbox
from bot.delivery.subscriptions import Subscriptions
from bot.storage import Storage
from tests.bot_harness import TOKEN, clean_env
from tests.cli import VISABOT, visabot
from tests.fake_telegram import FakeTelegram

SUBSCRIBERS = 150
KILL_AFTER = 40


def cli_env(fake: FakeTelegram, db: Path) -> dict[str, str]:
    return {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "TELEGRAM_API_FILE_URL": fake.base_file_url,
        "VISABOT_DB_PATH": str(db),
    }


@pytest.fixture
def subscribed_db(tmp_path: Path) -> Path:
    db = tmp_path / "db.sqlite3"
    storage = Storage(db)
    subs = Subscriptions(storage)
    for chat in range(1, SUBSCRIBERS + 1):
        subs.subscribe(chat, ["h1b"])
    storage.close()
    return db


def test_sigkill_mid_broadcast_then_resume(fake_telegram: FakeTelegram, subscribed_db: Path, tmp_path: Path) -> None:
    message = tmp_path / "update.html"
    message.write_text("<b>H-1B update</b>: new USCIS guidance.", encoding="utf-8")
    env = cli_env(fake_telegram, subscribed_db)
    # A process of its own, to be killed mid-send; the resume runs in-process.
    proc = subprocess.Popen(
        [VISABOT, "broadcast", "send", "--topic", "h1b", "--file", str(message)],
        cwd=tmp_path, env={**clean_env(), **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        fake_telegram.wait_for_sync("sendMessage", count=KILL_AFTER, timeout=30)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
    before = {int(c.chat_id) for c in fake_telegram.calls("sendMessage")}
    storage = Storage(subscribed_db)
    sent_before_resume = {
        r[0] for r in storage.db.execute("SELECT chat_id FROM outbox WHERE state = ?", [SENT]).fetchall()
    }
    assert KILL_AFTER <= len(before) < SUBSCRIBERS, "the kill must land mid-broadcast"

    out = visabot("broadcast", "resume", "1", env=env)
    assert out.returncode == 0, out.stderr

    received: dict[int, int] = {}
    for call in fake_telegram.calls("sendMessage"):
        if call.ok:
            received[int(call.chat_id)] = received.get(int(call.chat_id), 0) + 1
    broadcast = Outbox(storage).get(1)
    assert broadcast is not None and broadcast.status == "done"
    assert set(received) == set(range(1, SUBSCRIBERS + 1)), "nobody is missed"
    duplicates = {chat for chat, n in received.items() if n > 1}
    assert not duplicates & sent_before_resume, "a recipient marked sent never gets it again"
    assert len(duplicates) <= broadcast.resumed_in_flight <= 30, (duplicates, broadcast.resumed_in_flight)
    assert Outbox(storage).progress(1)[SENT] == SUBSCRIBERS
    if broadcast.resumed_in_flight:
        assert "were in flight" in out.stdout
    storage.close()
    print(f"killed after {len(before)} sends; in flight at the kill: {broadcast.resumed_in_flight}; "
          f"duplicates delivered: {len(duplicates)}")
