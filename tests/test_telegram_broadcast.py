"""End to end: subscriptions and the maintainers' broadcast flow in Telegram."""

from __future__ import annotations

import datetime as dt
import logging
import socket
from pathlib import Path

import pytest

from bot.delivery.broadcast import framed_html
from bot.delivery.outbox import Outbox
from bot.delivery.subscriptions import Subscriptions
from bot.replies.telegram_view import TOPIC_LABELS
from bot.storage import Storage
from knowledge.model import Topic
from tests.bot_harness import running_bot
from tests.fake_telegram import (
    DEFAULT_GROUP_ID,
    DEFAULT_USER_ID,
    Call,
    FakeTelegram,
    make_callback_query,
    make_command,
    make_my_chat_member,
    make_private_text,
)

USER = DEFAULT_USER_ID
ADMIN = 4242  # VISABOT_ADMIN_IDS in tests.bot_harness


def buttons(call: Call) -> list[dict]:  # type: ignore[type-arg]
    markup = call.params.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


async def command(fake: FakeTelegram, text: str, user: int = USER) -> Call:
    before = len(fake.calls("sendMessage", chat_id=user))
    fake.push_update(make_command(text, user_id=user))
    return (await fake.wait_for("sendMessage", chat_id=user, count=before + 1))[-1]


async def press(fake: FakeTelegram, data: str, on: Call, user: int = USER) -> Call:
    before = len(fake.calls("answerCallbackQuery"))
    fake.push_update(make_callback_query(data, user_id=user, message=on.result))
    return (await fake.wait_for("answerCallbackQuery", count=before + 1))[-1]


# ---------------------------------------------------------------- subscriptions


K_VISA, H1B = TOPIC_LABELS[Topic.K_VISA], TOPIC_LABELS[Topic.H1B]


def picker(call: Call) -> list[str]:
    return [b["text"] for b in buttons(call)]


async def test_subscribe_picker_ticks_and_toggles_in_place(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    fake = fake_telegram
    async with running_bot(fake, tmp_path) as app:
        menu = await command(fake, "/subscribe")
        first = await press(fake, "subt:h1b", menu)
        (after_h1b,) = await fake.wait_for("editMessageReplyMarkup")
        await press(fake, "subt:k-visa", after_h1b)
        _, after_k = await fake.wait_for("editMessageReplyMarkup", count=2)
        off = await press(fake, "subt:h1b", after_k)  # tapping a ticked topic unsubscribes
        *_, after_off = await fake.wait_for("editMessageReplyMarkup", count=3)
        listing = await command(fake, "/subscriptions")
        reopened = await command(fake, "/subscribe")
        assert app.bot_data.subscriptions.topics_of(USER) == ["k-visa"]
    assert [b["callback_data"] for b in buttons(menu)] == [
        "subt:k-visa",
        "subt:h1b",
        "subt:compare",
        "subt:context",
        "subt:all",
    ]
    assert not any(label.startswith("✅") for label in picker(menu))
    assert [label for label in picker(after_h1b) if label.startswith("✅")] == [f"✅ {H1B}"]
    assert [label for label in picker(after_k) if label.startswith("✅")] == [
        f"✅ {K_VISA}",
        f"✅ {H1B}",
    ]
    assert [label for label in picker(after_off) if label.startswith("✅")] == [f"✅ {K_VISA}"]
    assert {int(c.params["message_id"]) for c in fake.calls("editMessageReplyMarkup")} == {
        menu.result["message_id"]
    }
    assert (
        first.params["text"].startswith("🔔 Subscribed")
        and off.params["text"] == f"🔕 Unsubscribed from {H1B}."
    )
    assert "K visa" in listing.text and "H-1B" not in listing.text
    assert picker(reopened) == picker(after_off)


async def test_group_picker_toggles_only_for_group_admins(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    # A group's subscription reaches every member: only its administrators, as Telegram says, change it.
    fake = fake_telegram
    group_admin = 5005
    fake.member_status[(DEFAULT_GROUP_ID, group_admin)] = "administrator"
    async with running_bot(fake, tmp_path) as app:
        fake.push_update(make_command("/subscribe", user_id=USER, chat_id=DEFAULT_GROUP_ID))
        (menu,) = await fake.wait_for("sendMessage", chat_id=DEFAULT_GROUP_ID)
        refused = await press(fake, "subt:h1b", menu)
        assert app.bot_data.subscriptions.topics_of(DEFAULT_GROUP_ID) == []
        assert fake.calls("editMessageReplyMarkup") == []
        on = await press(fake, "subt:h1b", menu, user=group_admin)
        (ticked,) = await fake.wait_for("editMessageReplyMarkup")
        off = await press(fake, "subt:h1b", ticked, user=group_admin)
        _, unticked = await fake.wait_for("editMessageReplyMarkup", count=2)
        assert app.bot_data.subscriptions.topics_of(DEFAULT_GROUP_ID) == []
    assert "administrators" in refused.params["text"] and refused.params.get("show_alert")
    assert "This group is now subscribed" in on.params["text"] and f"✅ {H1B}" in picker(ticked)
    assert off.params["text"] == f"🔕 This group is no longer subscribed to {H1B}."
    assert not any(label.startswith("✅") for label in picker(unticked))
    assert [int(c.params["user_id"]) for c in fake.calls("getChatMember")] == [
        USER,
        group_admin,
        group_admin,
    ]


async def test_unsubscribe_per_topic_and_all(fake_telegram: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(fake_telegram, tmp_path) as app:
        app.bot_data.subscriptions.subscribe(USER, ["h1b", "k-visa"])
        menu = await command(fake_telegram, "/unsubscribe")
        assert [b["callback_data"] for b in buttons(menu)] == [
            "unsub:h1b",
            "unsub:k-visa",
            "unsub:all*",
        ]
        await press(fake_telegram, "unsub:h1b", menu)
        await fake_telegram.wait_for(
            "editMessageText", count=1
        )  # before the next tap: edits may interleave
        assert app.bot_data.subscriptions.topics_of(USER) == ["k-visa"]
        await press(fake_telegram, "unsub:all*", menu)
        await fake_telegram.wait_for("editMessageText", count=2)
        assert app.bot_data.subscriptions.topics_of(USER) == []
    assert "no subscriptions" in fake_telegram.calls("editMessageText")[-1].text


async def test_bell_under_answer_and_deep_link_subscribe(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(fake_telegram, tmp_path) as app:
        fake_telegram.push_update(make_private_text("What is the H-1B master's cap?"))
        (answer,) = await fake_telegram.wait_for("sendMessage", chat_id=USER)
        assert buttons(answer)[-2]["callback_data"] == "sub:h1b"  # beside 👁 Watch
        await press(fake_telegram, "sub:h1b", answer)
        reply = await command(fake_telegram, "/start sub-k-visa")
        assert app.bot_data.subscriptions.topics_of(USER) == ["h1b", "k-visa"]
        bad = await command(fake_telegram, "/start sub-schengen")
    assert "Subscribed" in reply.text and "not valid" in bad.text


async def test_blocking_unsubscribes_and_unblocking_does_not_resubscribe(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(fake_telegram, tmp_path) as app:
        app.bot_data.subscriptions.subscribe(USER, ["h1b", "all"])
        fake_telegram.push_update(make_my_chat_member(USER, "member", "kicked"))
        fake_telegram.push_update(make_my_chat_member(USER, "kicked", "member"))
        await fake_telegram.wait_for_updates_delivered()
        await command(fake_telegram, "/help")  # a later update: the member updates are handled
        assert app.bot_data.subscriptions.topics_of(USER) == []


# ---------------------------------------------------------------- broadcasting


async def test_non_admins_are_refused_and_logged(
    fake_telegram: FakeTelegram, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with running_bot(fake_telegram, tmp_path) as app:
        replies = [await command(fake_telegram, c) for c in ("/broadcast", "/broadcasts", "/stats")]
        fake_telegram.push_update(make_callback_query("bs:123", user_id=USER))
        refusal = (await fake_telegram.wait_for("answerCallbackQuery"))[-1]
        assert app.bot_data.outbox.recent() == []
    assert all(r.text.startswith("⛔ Not allowed") for r in replies)
    assert "Not allowed" in refusal.params["text"]
    assert sum("non-admin user 1001 tried" in r.getMessage() for r in caplog.records) == 4


async def admin_draft_to_preview(fake: FakeTelegram, html: str) -> Call:
    start = await command(fake, "/broadcast", ADMIN)
    await press(fake, "bt:h1b", start, ADMIN)
    await press(fake, "bt:next", start, ADMIN)
    before = len(fake.calls("sendMessage", chat_id=ADMIN))
    fake.push_update(make_private_text(html, user_id=ADMIN))
    await fake.wait_for("sendMessage", chat_id=ADMIN, count=before + 1)
    await command(fake, "/skip", ADMIN)
    return (
        await fake.wait_for(
            "sendMessage", chat_id=ADMIN, predicate=lambda c: "preview" in (c.text or "")
        )
    )[-1]


async def test_broadcast_entries_are_found_by_words_and_toggled(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    """Step 3 takes words: the entries found are buttons that toggle a link (✅), then Done shows
    the preview with the linked entries' buttons under the message (issue 12 point 7)."""
    async with running_bot(fake_telegram, tmp_path):
        start = await command(fake_telegram, "/broadcast", ADMIN)
        await press(fake_telegram, "bt:h1b", start, ADMIN)
        await press(fake_telegram, "bt:next", start, ADMIN)
        fake_telegram.push_update(make_private_text("<b>Update</b> on the fee", user_id=ADMIN))
        await fake_telegram.wait_for(
            "sendMessage", chat_id=ADMIN, predicate=lambda c: "Step 3 of 3" in (c.text or "")
        )
        fake_telegram.push_update(make_private_text("100k one time", user_id=ADMIN))
        (found,) = await fake_telegram.wait_for(
            "sendMessage", chat_id=ADMIN, predicate=lambda c: "Tap the entries" in (c.text or "")
        )
        offered = [str(b["callback_data"]) for b in buttons(found)]
        # The topic picker's edits came first: wait for one more (the tick), not for any.
        edits = len(fake_telegram.calls("editMessageReplyMarkup", chat_id=ADMIN))
        await press(fake_telegram, "bl:h1b-100k-one-time", found, ADMIN)
        ticked = (
            await fake_telegram.wait_for("editMessageReplyMarkup", chat_id=ADMIN, count=edits + 1)
        )[-1]
        await press(fake_telegram, "bl:", found, ADMIN)
        summary = (
            await fake_telegram.wait_for(
                "sendMessage", chat_id=ADMIN, predicate=lambda c: "preview" in (c.text or "")
            )
        )[-1]
    assert "bl:h1b-100k-one-time" in offered and offered[-1] == "bl:"
    marks = ticked.params["reply_markup"]["inline_keyboard"]
    assert any(
        row[0]["text"].startswith("✅ ") and row[0]["callback_data"] == "bl:h1b-100k-one-time"
        for row in marks
    )
    assert marks[-1][0]["text"] == "Done ▶ (1 linked)"
    preview = fake_telegram.calls("sendMessage", chat_id=ADMIN)[-2]
    assert "a:h1b-100k-one-time" in str(preview.params.get("reply_markup")) and summary is not None


async def test_admin_broadcast_flow_sends_once_with_progress(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    html = '<b>H-1B update</b>: the court stayed its ruling. <a href="https://example.org/a?b=1&amp;c=2">Details</a>'
    async with running_bot(fake_telegram, tmp_path) as app:
        subs = app.bot_data.subscriptions
        for chat in range(500, 505):
            subs.subscribe(chat, ["h1b"])
        subs.subscribe(600, ["k-visa"])
        # Invalid markup is refused with the reason before anything is sent.
        start = await command(fake_telegram, "/broadcast", ADMIN)
        await press(fake_telegram, "bt:h1b", start, ADMIN)
        await press(fake_telegram, "bt:next", start, ADMIN)
        fake_telegram.push_update(make_private_text("<b>unclosed", user_id=ADMIN))
        refused = (
            await fake_telegram.wait_for(
                "sendMessage", chat_id=ADMIN, predicate=lambda c: "can't send" in (c.text or "")
            )
        )[-1]
        await command(fake_telegram, "/cancel", ADMIN)
        summary = await admin_draft_to_preview(fake_telegram, html)
        preview = fake_telegram.calls("sendMessage", chat_id=ADMIN)[-2]
        send = buttons(summary)[0]["callback_data"]
        await press(fake_telegram, send, summary, ADMIN)
        second_tap = await press(fake_telegram, send, summary, ADMIN)
        await fake_telegram.wait_for(
            "sendMessage", predicate=lambda c: int(c.chat_id) in range(500, 505), count=5
        )
        final = await fake_telegram.wait_for(
            "editMessageText", predicate=lambda c: "finished" in (c.text or ""), timeout=15
        )
        listing = await command(fake_telegram, "/broadcasts", ADMIN)
        stats = await command(fake_telegram, "/stats", ADMIN)
        assert len(app.bot_data.outbox.recent()) == 1
    assert "unclosed tag &lt;b&gt;" in refused.text
    framed = framed_html(html, ["h1b"], dt.date.today())
    assert framed.startswith("📣 <b>Policy update · US H-1B · ") and "/unsubscribe" in framed
    assert preview.text == framed and "Recipients now: <b>5</b>" in summary.text
    delivered = [
        c
        for c in fake_telegram.calls("sendMessage")
        if c.text == framed and int(c.chat_id) != ADMIN
    ]
    assert sorted(int(c.chat_id) for c in delivered) == list(range(500, 505))
    assert "Already sent" in second_tap.params["text"]
    assert "sent 5" in final[-1].text
    assert "Broadcast #1" in listing.text and "US H-1B: 5" in stats.text


async def test_answers_keep_flowing_during_a_broadcast(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(fake_telegram, tmp_path) as app:
        subs = app.bot_data.subscriptions
        for chat in range(1000, 1090):
            subs.subscribe(chat, ["h1b"])
        summary = await admin_draft_to_preview(fake_telegram, "<b>Update</b>")
        await press(fake_telegram, buttons(summary)[0]["callback_data"], summary, ADMIN)
        await fake_telegram.wait_for(
            "sendMessage",
            predicate=lambda c: "\n<b>Update</b>\n" in (c.text or "") and int(c.chat_id) >= 1000,
            count=10,
        )
        fake_telegram.push_update(make_private_text("What is the H-1B master's cap?", user_id=77))
        (answer,) = await fake_telegram.wait_for("sendMessage", chat_id=77)
        broadcast_sends = [c for c in fake_telegram.calls("sendMessage") if int(c.chat_id) >= 1000]
        await app.bot_data.jobs.wait(1)
    assert "20,000" in answer.text
    assert len(broadcast_sends) < 90, "the answer came while the broadcast was still running"
    assert answer.answered_at - answer.timestamp < 1.0  # type: ignore[operator]


async def test_answers_keep_flowing_during_a_429_pause(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    chats = range(5000, 5020)
    flooded: list[int] = []

    def flood_once(method: str, params: dict, now: float) -> tuple[int, str, int] | None:  # type: ignore[type-arg]
        if (
            method.lower() == "sendmessage"
            and int(params.get("chat_id", 0)) in chats
            and not flooded
        ):
            flooded.append(int(params["chat_id"]))
            return 429, "Too Many Requests: retry after 3", 3
        return None

    fake_telegram.rate_policy = flood_once
    async with running_bot(fake_telegram, tmp_path) as app:
        subs = app.bot_data.subscriptions
        for chat in chats:
            subs.subscribe(chat, ["h1b"])
        summary = await admin_draft_to_preview(fake_telegram, "<b>Update</b>")
        await press(fake_telegram, buttons(summary)[0]["callback_data"], summary, ADMIN)
        (flood,) = await fake_telegram.wait_for(
            "sendMessage", predicate=lambda c: c.http_status == 429
        )
        fake_telegram.push_update(make_private_text("What is the H-1B master's cap?", user_id=77))
        (answer,) = await fake_telegram.wait_for("sendMessage", chat_id=77)
        during_pause = [
            c
            for c in fake_telegram.calls("sendMessage")
            if int(c.chat_id) in chats and flood.timestamp < c.timestamp < answer.timestamp
        ]
        await app.bot_data.jobs.wait(1)
    assert "20,000" in answer.text
    assert during_pause == [], "the answer came while the broadcast waited out the 429"
    assert answer.answered_at - answer.timestamp < 1.0  # type: ignore[operator]
    delivered = sorted(
        int(c.chat_id)
        for c in fake_telegram.calls("sendMessage")
        if int(c.chat_id) in chats and c.ok
    )
    assert delivered == list(chats)


async def test_interrupted_broadcast_resumes_at_start_up(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    storage = Storage(tmp_path / "visabot.sqlite3")
    for chat in range(1, 11):
        Subscriptions(storage).subscribe(chat, ["h1b"])
    outbox = Outbox(storage)
    broadcast, _ = outbox.create(
        "crashed", topics=["h1b"], html="<b>Resumed</b>", recipients=list(range(1, 11))
    )
    sent = [(chat, "sent", None, False) for chat in range(1, 4)]
    outbox.mark_many(
        broadcast.id, [*sent, (4, "sending", None, False)]
    )  # 4: in flight at the crash
    outbox.set_status(broadcast.id, "running")
    # Its lease is held by a process of this host that no longer exists (killed).
    storage.db.execute(
        "UPDATE broadcasts SET lease_owner = ?, lease_until = 9e18",
        [f"{socket.gethostname()}:999999999"],
    )
    storage.close()
    async with running_bot(fake_telegram, tmp_path) as app:
        await fake_telegram.wait_for("sendMessage", count=7, timeout=15)
        await app.bot_data.jobs.wait(broadcast.id)
        done = app.bot_data.outbox.get(broadcast.id)
    assert sorted(int(c.chat_id) for c in fake_telegram.calls("sendMessage")) == list(range(4, 11))
    assert done is not None and done.status == "done" and done.resumed_in_flight == 1
