"""Issue 11 hardening: bookkeeping never holds up a reply (4), a 👎's question cannot be tied to
its user (6), one bounded flood guard for every update (7), maintainer commands and group
subscriptions (10) — through the real Application, the fake Bot API and the real SQLite file."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from pathlib import Path

import pytest
from telegram.ext import Application

import bot.storage
from bot.runtime.flood import MAX_UPDATES, SLOW_DOWN, FloodGuard, Verdict
from bot.storage import Storage
from tests.bot_harness import all_written, running_bot
from tests.fake_telegram import (
    DEFAULT_GROUP_ID,
    DEFAULT_USER_ID,
    FakeTelegram,
    make_callback_query,
    make_command,
    make_private_text,
    make_sticker,
)

USER = DEFAULT_USER_ID
OTHER = 2002
MASTERS = "What is the H-1B master's cap?"
APOLOGY = "Sorry, something went wrong"


def _asked(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute("SELECT entry_id, count FROM asked").fetchall())
    finally:
        conn.close()


# ---------------------------------------------------------------- 4: bookkeeping off the loop


async def _logged(caplog: pytest.LogCaptureFixture, text: str, timeout: float = 10) -> None:
    """Wait until a log record contains `text` (the bookkeeping thread logs as it goes)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not any(text in r.getMessage() for r in caplog.records):
        assert asyncio.get_running_loop().time() < deadline, f"never logged: {text!r}"
        await asyncio.sleep(0.02)


async def test_a_locked_database_does_not_hold_up_replies(
    fake_telegram: FakeTelegram, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = fake_telegram
    db_path = tmp_path / "visabot.sqlite3"
    caplog.set_level(logging.INFO, logger="bot.storage")
    async with running_bot(fake, tmp_path) as app:
        locker = sqlite3.connect(db_path, isolation_level=None, timeout=0)
        locker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            fake.push_update(make_private_text(MASTERS))
            fake.push_update(
                make_private_text("pizza visa for my goldfish")
            )  # a decline: the gap log
            fake.push_update(make_command("/help"))
            # Bounded wait well below the time the lock is held (busy timeout 5 s, lock ~8 s).
            calls = await fake.wait_for("sendMessage", chat_id=USER, count=3, timeout=4)
            lock_still_held = locker.in_transaction
            await _logged(caplog, "database is locked); retrying")  # the writer met the lock
            assert _asked(db_path) == {}  # a reader is not blocked (WAL); nothing written yet
        finally:
            locker.execute("COMMIT")
            locker.close()
        await all_written(app)
    assert "bookkeeping writes resumed" in caplog.text  # retried until the lock was gone
    texts = [c.text for c in calls]
    assert lock_still_held
    assert any("20,000" in t for t in texts) and any("/ask" in t or "/topics" in t for t in texts)
    assert not any(APOLOGY in t for t in fake.sent_texts())
    assert _asked(db_path) == {"h1b-masters-cap": 1}
    gaps = Storage(db_path).gaps()
    assert [g["text"] for g in gaps] == ["pizza visa for my goldfish"]


async def test_a_failing_bookkeeping_write_is_logged_once_and_never_reaches_the_user(
    fake_telegram: FakeTelegram, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    fake = fake_telegram
    secret = "pizza visa for my secret-goldfish"
    async with running_bot(fake, tmp_path) as app:
        db = app.bot_data.db
        db.db.execute("DROP TABLE asked")  # every counter write now fails (like a full disk)
        db.db.execute("DROP TABLE unanswered")
        for n in range(3):
            fake.push_update(make_private_text(MASTERS))
            await fake.wait_for("sendMessage", chat_id=USER, count=2 * n + 1)
            fake.push_update(make_private_text(secret))
            await fake.wait_for("sendMessage", chat_id=USER, count=2 * n + 2)
        await all_written(app)
    texts = fake.sent_texts(USER)
    assert sum("20,000" in t for t in texts) == 3
    assert not any(APOLOGY in t for t in texts)
    failures = [r for r in caplog.records if "bookkeeping write failed" in r.getMessage()]
    assert len(failures) == 1
    assert "secret-goldfish" not in "\n".join(r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------- 6: votes not joinable to users


HEX_KEY = re.compile(r"\b[0-9a-f]{32,}\b")
TIME_OF_DAY = re.compile(r"\d{2}:\d{2}")


def _dump(path: Path) -> tuple[dict[str, list[str]], list[str]]:
    """Every table's columns and every stored value, as text."""
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        columns = {t: [c[1] for c in conn.execute(f"PRAGMA table_info({t})")] for t in tables}
        values = [str(v) for t in tables for row in conn.execute(f"SELECT * FROM {t}") for v in row]
    finally:
        conn.close()
    return columns, values


async def test_a_downvoted_question_cannot_be_joined_to_its_user(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    fake = fake_telegram
    db_path = tmp_path / "visabot.sqlite3"
    async with running_bot(fake, tmp_path) as app:
        # Two wordings (each user's own question is kept), both plainly the master's-cap entry.
        questions = (MASTERS, "What is the H-1B master's cap (advanced degree exemption)?")
        for n, (user, question) in enumerate(zip((USER, OTHER), questions), 1):
            fake.push_update(make_private_text(question, user_id=user))
            (answer,) = await fake.wait_for("sendMessage", chat_id=user)
            await all_written(app)  # the answer's handler remembers its question after replying
            fake.push_update(
                make_callback_query("v:h1b-masters-cap:0", user_id=user, message=answer.result)
            )
            await fake.wait_for(
                "answerCallbackQuery", count=2 * n - 1
            )  # one press answered at a time
            fake.push_update(
                make_callback_query("v:h1b-masters-cap:0", user_id=user, message=answer.result)
            )
            await fake.wait_for("answerCallbackQuery", count=n + n)
        await all_written(app)  # the 👎's question is bookkeeping, written by a background thread
        votes = app.bot_data.db.votes("h1b-masters-cap")
        feedback = app.bot_data.db.most_downvoted()
    assert votes == (0, 2)  # one vote per user per answer message
    assert "already" in fake.calls("answerCallbackQuery")[-1].params["text"]
    assert feedback[0][0] == "h1b-masters-cap" and len(feedback[0][3]) == 2
    columns, values = _dump(db_path)
    assert "votes" not in columns and set(columns["downvoted_questions"]) == {
        "entry_id",
        "question",
        "day",
    }
    assert not any(str(u) in v for v in values for u in (USER, OTHER))
    assert not any(HEX_KEY.search(v) for v in values)  # no voter hash, no hash key
    # No time finer than a day anywhere next to the questions (nothing to line up with a log).
    assert not any(
        TIME_OF_DAY.search(v)
        for t in ("downvoted_questions", "vote_counts")
        for v in _values(db_path, t)
    )


def _values(path: Path, table: str) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [str(v) for row in conn.execute(f"SELECT * FROM {table}") for v in row]
    finally:
        conn.close()


def test_migration_keeps_the_tallies_and_drops_what_linked_votes_to_users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.sqlite3"
    monkeypatch.setattr(bot.storage, "MIGRATIONS", bot.storage.MIGRATIONS[:2])
    old = Storage(path)
    old.db.execute(
        "INSERT INTO votes VALUES ('hash-a', 'm1', 'e1', 0, '2026-01-02T10:11:12+00:00'),"
        " ('hash-b', 'm2', 'e1', 1, '2026-01-02T10:11:13+00:00'), ('hash-a', 'm3', 'e2', 0, '2026-01-03T09:00:00+00:00')"
    )
    old.db.execute(
        "INSERT INTO downvoted_questions VALUES ('e1', 'why so slow', '2026-01-02T10:11:12+00:00')"
    )
    old.close()
    monkeypatch.undo()
    new = Storage(path)
    assert new.votes("e1") == (1, 1) and new.votes("e2") == (0, 1)
    assert new.most_downvoted()[0] == ("e1", 1, 1, ["why so slow"])
    new.close()
    columns, values = _dump(path)
    assert "votes" not in columns and "receipt_key" not in values
    assert not any("hash-a" in v or "10:11" in v for v in values)
    assert "2026-01-02" in values


# ---------------------------------------------------------------- 7: one bounded flood guard


async def test_one_flood_guard_for_commands_buttons_and_stickers(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    fake = fake_telegram
    async with running_bot(fake, tmp_path) as app:
        fake.push_updates(make_command("/start") for _ in range(2000))
        await fake.wait_for_updates_delivered(timeout=60)
        await fake.wait_for("sendMessage", chat_id=USER, count=MAX_UPDATES + 1)
        # Buttons and stickers from another user count too (and /stats by a non-admin).
        fake.push_updates([make_callback_query("t", user_id=OTHER) for _ in range(100)])
        fake.push_updates([make_sticker(user_id=OTHER) for _ in range(100)])
        fake.push_updates([make_command("/stats", user_id=OTHER) for _ in range(100)])
        await fake.wait_for_updates_delivered(timeout=60)
        await fake.wait_for("answerCallbackQuery", count=MAX_UPDATES)
        # A quiet user is unaffected.
        fake.push_update(make_command("/help", user_id=3003))
        await fake.wait_for("sendMessage", chat_id=3003)
        await _settled(app)
    to_user = fake.sent_texts(USER)
    assert len(to_user) == MAX_UPDATES + 1 and sum(SLOW_DOWN in t for t in to_user) == 1
    # 300 updates from OTHER: the first 20 (buttons) are served, the rest silenced.
    replies = fake.calls("sendMessage", chat_id=OTHER) + fake.calls("answerCallbackQuery")
    assert len(replies) == MAX_UPDATES + 1


async def _settled(app: Application) -> None:  # type: ignore[type-arg]
    """Wait until every update the bot has fetched is handled: PTB marks each queued update done
    when its handler returns, so no reply can still be on its way after this."""
    await asyncio.wait_for(app.update_queue.join(), timeout=30)


def test_flood_guard_memory_stays_bounded() -> None:
    now = [0.0]
    guard = FloodGuard(limit=3, window=10, clock=lambda: now[0], max_users=1000)
    for user in range(200_000):  # many distinct users over time: the idle ones are dropped
        now[0] += 0.01
        guard.check(user)
    assert len(guard) <= 1001
    burst = FloodGuard(limit=3, window=10, clock=lambda: 0.0, max_users=1000)
    for user in range(50_000):  # all at once: the cap holds
        burst.check(user)
    assert len(burst) <= 1000
    assert [burst.check(7) for _ in range(5)] == [Verdict.ALLOW] * 3 + [
        Verdict.WARN,
        Verdict.SILENT,
    ]


# ---------------------------------------------------------------- 10: maintainers in private, group subscriptions

ADMIN = 4242  # VISABOT_ADMIN_IDS in tests.bot_harness
MAINTAINER_COMMANDS = [
    "/gaps",
    "/stats",
    "/broadcast",
    "/broadcasts",
    "/add",
    "/edit h1b-masters-cap",
    "/feedback",
    "/reload",
    "/skip",
    "/cancel",
]


async def test_maintainer_commands_only_in_a_private_chat(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    fake = fake_telegram
    async with running_bot(fake, tmp_path) as app:
        app.bot_data.db.log_unanswered("my private question about my secret-employer")
        for n, command in enumerate(MAINTAINER_COMMANDS, 1):
            fake.push_update(make_command(command, user_id=ADMIN, chat_id=DEFAULT_GROUP_ID))
            await fake.wait_for("sendMessage", chat_id=DEFAULT_GROUP_ID, count=n)
        fake.push_update(make_command("/gaps", user_id=ADMIN))  # in private it still works
        private = "\n".join(
            c.text for c in await fake.wait_for("sendMessage", chat_id=ADMIN, count=1)
        )
    in_group = fake.sent_texts(DEFAULT_GROUP_ID)
    assert len(in_group) == len(MAINTAINER_COMMANDS)
    assert all("only in a private chat" in t for t in in_group), in_group
    assert not any("secret-employer" in t or "Subscribers" in t for t in in_group)
    assert "Unanswered questions" in private and "secret-employer" in private


async def test_a_forged_broadcast_cancel_button_from_a_non_admin_edits_nothing(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    fake = fake_telegram
    async with running_bot(fake, tmp_path):
        fake.push_update(make_callback_query("bx", user_id=USER))
        (answer,) = await fake.wait_for("answerCallbackQuery")
        await fake.wait_for_updates_delivered()
    assert "not" in answer.params["text"].lower() or answer.params.get("show_alert")
    assert fake.calls("editMessageText") == []
