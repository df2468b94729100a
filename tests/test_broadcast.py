"""The delivery engine against the fake Bot API: topics, 429, 403/400, timeouts, idempotency."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from pathlib import Path

import pytest
from telegram import Bot

from bot.delivery.broadcast import Broadcaster
from bot.delivery.outbox import BLOCKED, DONE, FAILED, PENDING, SENDING, SENT, Ledger, Outbox
from bot.delivery.subscriptions import Subscriptions
from bot.runtime.http_client import AiohttpRequest
from bot.storage import Storage
from knowledge.loader import KnowledgeBase
from tests.bot_harness import TOKEN
from tests.fake_telegram import FakeTelegram

HTML = "<b>Policy update</b>: USCIS published new guidance &amp; FAQs."


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return Storage(tmp_path / "db.sqlite3")


def make_bot(fake: FakeTelegram, read_timeout: float = 5.0) -> Bot:
    return Bot(TOKEN, base_url=fake.base_url, request=AiohttpRequest(64, read_timeout=read_timeout))


def create(storage: Storage, topics: list[str], key: str = "k1", entry_ids: list[str] | None = None) -> int:
    recipients = Subscriptions(storage).recipients(topics)
    broadcast, _ = Outbox(storage).create(key, topics=topics, html=HTML, recipients=recipients, entry_ids=entry_ids)
    return broadcast.id


async def test_delivers_once_to_each_subscriber_of_the_topic(fake_telegram: FakeTelegram, storage: Storage) -> None:
    subs = Subscriptions(storage)
    for chat in range(1, 41):
        subs.subscribe(chat, ["h1b"])
    for chat in range(41, 51):
        subs.subscribe(chat, ["k-visa"])
    subs.subscribe(51, ["all"])
    subs.subscribe(1, ["k-visa"])  # two topics, still one message
    broadcast_id = create(storage, ["h1b"], entry_ids=["h1b-100k-one-time"])
    async with make_bot(fake_telegram) as bot:
        progress = await Broadcaster(bot, storage).run(broadcast_id)
    sends = fake_telegram.calls("sendMessage")
    assert sorted(int(c.chat_id) for c in sends) == [*range(1, 41), 51]
    assert progress[SENT] == 41 and progress.remaining == 0
    assert all(c.params["text"] == sends[0].params["text"] and c.params["parse_mode"] == "HTML" for c in sends)
    header, body, footer = sends[0].params["text"].split("\n\n")
    today = dt.date.today()
    assert header == f"📣 <b>Policy update · US H-1B · {today.day} {today:%b %Y}</b>"
    assert body == HTML and "/unsubscribe" in footer
    assert all(c.params["link_preview_options"] == {"is_disabled": True} for c in sends)
    assert Outbox(storage).get(broadcast_id).status == DONE  # type: ignore[union-attr]


async def test_entry_buttons_travel_with_the_message(fake_telegram: FakeTelegram, storage: Storage, shipped_kb: KnowledgeBase) -> None:
    Subscriptions(storage).subscribe(7, ["h1b"])
    broadcast_id = create(storage, ["h1b"], entry_ids=["h1b-100k-one-time"])
    async with make_bot(fake_telegram) as bot:
        await Broadcaster(bot, storage, shipped_kb).run(broadcast_id)
    (call,) = fake_telegram.calls("sendMessage")
    (button,) = [b for row in call.params["reply_markup"]["inline_keyboard"] for b in row]
    assert button["callback_data"] == "a:h1b-100k-one-time"


async def test_429_is_waited_out_then_retried(fake_telegram: FakeTelegram, storage: Storage) -> None:
    Subscriptions(storage).subscribe(5, ["h1b"])
    fake_telegram.fail_next("sendMessage", 429, retry_after=2)
    async with make_bot(fake_telegram) as bot:
        broadcaster = Broadcaster(bot, storage)
        progress = await broadcaster.run(create(storage, ["h1b"]))
    first, second = fake_telegram.calls("sendMessage")
    assert first.http_status == 429 and second.ok
    waited = second.timestamp - first.answered_at  # type: ignore[operator]
    assert waited >= 2.0, waited
    assert progress[SENT] == 1 and broadcaster.flood_waits == 1


@pytest.mark.parametrize(
    ("status", "description"),
    [(403, "Forbidden: bot was blocked by the user"), (403, "Forbidden: user is deactivated"), (400, "Bad Request: chat not found")],
)
async def test_blocked_and_missing_chats_are_unsubscribed_without_retry(
    fake_telegram: FakeTelegram, storage: Storage, status: int, description: str
) -> None:
    subs = Subscriptions(storage)
    subs.subscribe(9, ["h1b", "k-visa"])
    subs.subscribe(10, ["h1b"])
    fake_telegram.fail_next("sendMessage", status, description)
    async with make_bot(fake_telegram) as bot:
        progress = await Broadcaster(bot, storage).run(create(storage, ["h1b"]))
    calls = fake_telegram.calls("sendMessage")
    assert [int(c.chat_id) for c in calls] == [9, 10]
    assert progress[BLOCKED] == 1 and progress[SENT] == 1
    assert subs.topics_of(9) == [] and subs.topics_of(10) == ["h1b"]
    failures = Outbox(storage).failures(1)
    assert failures[0][0] == 9 and str(status) in failures[0][2]


async def test_server_errors_and_timeouts_are_retried_with_backoff(fake_telegram: FakeTelegram, storage: Storage) -> None:
    Subscriptions(storage).subscribe(11, ["h1b"])
    Subscriptions(storage).subscribe(12, ["h1b"])
    fake_telegram.fail_next("sendMessage", 500, "Internal Server Error")
    fake_telegram.hang_next("sendMessage", 1.5)
    async with make_bot(fake_telegram, read_timeout=0.5) as bot:
        progress = await Broadcaster(bot, storage, backoff=0.05).run(create(storage, ["h1b"]))
    assert progress[SENT] == 2
    assert len(fake_telegram.calls("sendMessage")) >= 4  # each of the two failures was retried


async def test_gives_up_after_bounded_retries_with_the_reason(fake_telegram: FakeTelegram, storage: Storage) -> None:
    Subscriptions(storage).subscribe(13, ["h1b"])
    fake_telegram.fail_next("sendMessage", 502, "Bad Gateway", times=10)
    async with make_bot(fake_telegram) as bot:
        started = time.monotonic()
        progress = await Broadcaster(bot, storage, backoff=0.01).run(create(storage, ["h1b"]))
    assert progress[FAILED] == 1
    assert len(fake_telegram.calls("sendMessage")) == 4
    assert "Bad Gateway" in Outbox(storage).failures(1)[0][2]
    assert time.monotonic() - started < 5


async def test_same_idempotency_key_creates_one_broadcast(storage: Storage) -> None:
    Subscriptions(storage).subscribe(1, ["h1b"])
    first = create(storage, ["h1b"], key="tap")
    second = create(storage, ["h1b"], key="tap")
    assert first == second
    assert Outbox(storage).progress(first).total == 1


async def test_a_finished_broadcast_is_not_sent_again(fake_telegram: FakeTelegram, storage: Storage) -> None:
    Subscriptions(storage).subscribe(1, ["h1b"])
    broadcast_id = create(storage, ["h1b"])
    async with make_bot(fake_telegram) as bot:
        await Broadcaster(bot, storage).run(broadcast_id)
        await Broadcaster(bot, storage).run(broadcast_id)
    assert len(fake_telegram.calls("sendMessage")) == 1


async def test_subscribing_is_idempotent(storage: Storage) -> None:
    subs = Subscriptions(storage)
    assert subs.subscribe(1, ["h1b", "h1b"]) == ["h1b"]
    assert subs.subscribe(1, ["h1b"]) == []
    assert subs.counts() == {"h1b": 1}
    assert subs.unsubscribe(1) == 1 and subs.topics_of(1) == []


def test_concurrent_taps_from_separate_connections_make_one_subscription(tmp_path: Path) -> None:
    """Eight connections (as the bot and a CLI would have) subscribe the same chat at once: the
    primary key, not a check-then-insert, keeps it to one row, and exactly one tap reports it."""
    path = tmp_path / "db.sqlite3"
    Storage(path).close()
    start = threading.Barrier(8)
    added: list[list[str]] = []

    def tap() -> None:
        storage = Storage(path)
        try:
            start.wait()
            added.append(Subscriptions(storage).subscribe(7, ["h1b", "k-visa"]))
        finally:
            storage.close()

    threads = [threading.Thread(target=tap) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(added) == 8
    assert sorted(t for topics in added for t in topics) == ["h1b", "k-visa"]
    assert Subscriptions(Storage(path)).counts() == {"h1b": 1, "k-visa": 1}


async def test_ledger_commits_sending_first_and_outcomes_soon_after(storage: Storage) -> None:
    outbox = Outbox(storage)
    broadcast, _ = outbox.create("ledger", topics=["h1b"], html=HTML, recipients=[1, 2, 3])
    ledger = Ledger(outbox, broadcast.id, flush_delay=0.01)

    def states() -> dict[int, str]:
        rows = storage.db.execute("SELECT chat_id, state FROM outbox ORDER BY chat_id").fetchall()
        return {chat: state for chat, state in rows}

    ledger.start([1, 2])
    assert states() == {1: SENDING, 2: SENDING, 3: PENDING}, "committed before any request goes out"
    ledger.finish(1, SENT)
    # Until committed, an answered row stays `sending`: a crash now re-sends it and counts it.
    assert states()[1] == SENDING
    ledger.start([3])
    assert states() == {1: SENT, 2: SENDING, 3: SENDING}, "outcomes ride along with the next group"
    ledger.finish(2, BLOCKED, "403 blocked")
    assert states()[2] == SENDING
    deadline = asyncio.get_running_loop().time() + 5
    while states()[2] != BLOCKED:  # with nothing starting, a timer commits them
        assert asyncio.get_running_loop().time() < deadline, "the timer never committed"
        await asyncio.sleep(0.005)
    ledger.finish(3, SENT)
    ledger.flush()
    assert states() == {1: SENT, 2: BLOCKED, 3: SENT}
    assert outbox.recover_in_flight(broadcast.id) == 0
