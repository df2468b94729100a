"""👁 Watch an answer, end to end through the real Application and the fake Bot API: the button, the
watch table, /watching, /forget, and the one notice per watcher (through the broadcast outbox) when
an /edit, a /reload or a change made while the bot was down moves the answer, status or history.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from bot.delivery.watch import Watches, notify_watchers
from bot.replies.telegram_view import esc, shorten
from bot.storage import Storage
from knowledge.loader import KnowledgeBase, load_knowledge_base, parse_entry_text
from knowledge.model import Entry, HistoryEvent, Status
from knowledge.writer import update_entry
from tests.bot_harness import assert_valid_reply, running_bot
from tests.fake_telegram import DEFAULT_GROUP_ID, Call, FakeTelegram, make_callback_query
from tests.test_telegram_maintainers import ADMIN, MASTERS, USER, nonce_of, press, save, seen, send

NEW_ZH_ANSWER = "已编辑：硕士名额每年增加2万个注册名额。"  # the edit's Chinese, saved with it
ENTRY = "h1b-masters-cap"
USER_ZH, BLOCKED = 1002, 1003
NOTICE = "An answer you watch has changed"
FOOTER = "<i>You get this because you tapped 👁 Watch under this answer. To stop: /watching</i>"


def rows(call: Call) -> list[list[dict[str, Any]]]:
    keyboard: list[list[dict[str, Any]]] = (call.params.get("reply_markup") or {}).get(
        "inline_keyboard", []
    )
    return keyboard


def on_disk(kb_dir: Path) -> tuple[Path, Entry]:
    path = kb_dir / "entries" / "h1b" / f"{ENTRY}.yaml"
    entry, _ = parse_entry_text(path.read_text(encoding="utf-8"), path)
    assert entry is not None
    return path, entry


async def watch(fake: FakeTelegram, user: int) -> Call:
    """Ask, then tap 👁 Watch under the answer; the answer's relabelled keyboard."""
    answer = await send(fake, MASTERS, user, "20,000")
    before = seen(fake)
    await press(fake, f"w:{ENTRY}", answer, user)
    return (
        await fake.wait_for("editMessageReplyMarkup", lambda c: id(c) not in before, chat_id=user)
    )[-1]


def notices(fake: FakeTelegram, chat: int) -> list[Call]:
    return [
        c
        for c in fake.calls("sendMessage", chat_id=chat)
        if NOTICE in (c.text or "") or "你关注的回答有更新" in (c.text or "")
    ]


async def test_the_button_toggles_a_watch_and_watching_lists_and_removes(
    fake_telegram: FakeTelegram, tmp_path: Path, kb_dir: Path
) -> None:
    fake = fake_telegram
    async with running_bot(fake, tmp_path, VISABOT_KNOWLEDGE_DIR=kb_dir) as app:
        data = app.bot_data
        answer = await send(fake, MASTERS, USER, "20,000")
        # In the row of the topic's updates button: the first screen gets no taller.
        (row,) = [r for r in rows(answer) if any(b["callback_data"] == f"w:{ENTRY}" for b in r)]
        assert [b["text"] for b in row] == ["🔔 Updates on US H-1B", "👁 Watch"] and row[0][
            "callback_data"
        ] == "sub:h1b"
        toast = await press(fake, f"w:{ENTRY}", answer, USER)
        relabelled = await fake.wait_for("editMessageReplyMarkup", chat_id=USER)
        assert toast.params["text"].startswith("👁 Watching: you get one message when this answer")
        assert [
            b["text"] for r in rows(relabelled[-1]) for b in r if b["callback_data"] == f"w:{ENTRY}"
        ] == ["👁 Watching ✓"]
        assert len(rows(relabelled[-1])) == len(rows(answer))
        assert data.db.db.execute("SELECT * FROM watches").fetchall() == [
            (USER, ENTRY)
        ]  # chat id + entry id only
        again = await send(fake, MASTERS, USER, "20,000")  # a later answer shows the watch
        assert "👁 Watching ✓" in [b["text"] for r in rows(again) for b in r]

        listed = await send(fake, "/watching", USER, "Answers you watch")
        assert listed.text == "👁 Answers you watch (1). Tap one to stop watching it:"
        question = shorten(on_disk(kb_dir)[1].question, 56)
        assert rows(listed) == [[{"text": f"✖ {question}", "callback_data": f"wu:{ENTRY}"}]]
        removed = await press(
            fake,
            f"wu:{ENTRY}",
            listed,
            USER,
            expect="You watch no answers",
            method="editMessageText",
        )
        assert removed.params.get("reply_markup") is None
        assert Watches(data.db).of_chat(USER) == []

        await press(fake, f"w:{ENTRY}", answer, USER)
        assert Watches(data.db).of_chat(USER) == [ENTRY]
        off = await press(fake, f"w:{ENTRY}", answer, USER)  # tapped again: stops
        assert (
            off.params["text"] == "Stopped watching this answer."
            and Watches(data.db).of_chat(USER) == []
        )

        # A forged button in a group stores nothing: a group is many people.
        before = seen(fake)
        fake.push_update(make_callback_query(f"w:{ENTRY}", user_id=USER, chat_id=DEFAULT_GROUP_ID))
        refusal = (await fake.wait_for("answerCallbackQuery", lambda c: id(c) not in before))[-1]
        assert (
            "private chat" in refusal.params["text"]
            and data.db.db.execute("SELECT * FROM watches").fetchall() == []
        )

        await press(fake, f"w:{ENTRY}", answer, USER)
        forgot = await send(fake, "/forget", USER, "Done")
        assert "• 1 watch\n" in forgot.text and Watches(data.db).of_chat(USER) == []
        privacy = await send(fake, "/privacy", USER, "What visabot stores")
        assert "<b>Watches</b> (👁)" in privacy.text
    for call in fake.calls("sendMessage") + fake.calls("editMessageText"):
        assert_valid_reply(call.params["text"])


async def test_an_edit_tells_each_watcher_once_through_the_outbox_and_a_reload_tells_a_new_history_line(
    fake_telegram: FakeTelegram, tmp_path: Path, kb_dir: Path
) -> None:
    fake = fake_telegram
    path, original = on_disk(kb_dir)
    new_answer = "EDITED: the master's cap adds 20,000 registrations each year."
    async with running_bot(fake, tmp_path, VISABOT_KNOWLEDGE_DIR=kb_dir) as app:
        data = app.bot_data
        data.db.set_language(USER_ZH, "zh")
        for user in (USER, USER_ZH, BLOCKED):
            await watch(fake, user)
        # The blocked user's chat answers 403: the engine drops their watch with their subscriptions.
        fake.rate_policy = lambda method, params, now: (
            (403, "Forbidden: bot was blocked by the user", None)
            if method.lower() == "sendmessage" and str(params.get("chat_id")) == str(BLOCKED)
            else None
        )
        await send(fake, f"/edit {ENTRY}", ADMIN, "step 1 of 10")
        await send(fake, "keep", ADMIN, "step 2 of 10")
        await send(fake, "keep", ADMIN, "step 3 of 10")
        await send(fake, new_answer, ADMIN, "step 4 of 10")
        await send(fake, "keep", ADMIN, "step 5 of 10")
        topics = await send(fake, "done", ADMIN, "step 6 of 10")
        statuses = await press(
            fake, f"et:{nonce_of(topics)}:h1b", topics, ADMIN, expect="step 7 of 10"
        )
        await press(
            fake, f"es:{nonce_of(statuses)}:unclear", statuses, ADMIN, expect="step 8 of 10"
        )
        await send(fake, "keep", ADMIN, "step 9 of 10")
        await send(fake, NEW_ZH_ANSWER, ADMIN, "step 10 of 10")
        summary = await send(fake, "keep", ADMIN, "Preview")
        await save(fake, summary, expect="Updated")
        await fake.wait_for("sendMessage", lambda c: NOTICE in (c.text or ""), chat_id=USER)
        await fake.wait_for(
            "sendMessage", lambda c: "你关注的回答有更新" in (c.text or ""), chat_id=USER_ZH
        )
        await fake.wait_for("sendMessage", lambda c: NOTICE in (c.text or ""), chat_id=BLOCKED)
        await asyncio.sleep(0.3)
        assert [len(notices(fake, u)) for u in (USER, USER_ZH)] == [1, 1]
        (english,) = notices(fake, USER)
        assert english.text == (
            f"👁 <b>{NOTICE}</b>\n<b>{esc(original.question)}</b>\n\n"
            "Status: 📰 Reported; no official text cited → ⚖️ Unclear: sources conflict\n\n"
            f"The answer now reads:\n{esc(new_answer)}\n\n{FOOTER}"
        )
        assert "Policy update" not in english.text and "/unsubscribe" not in english.text
        assert rows(english) == [
            [{"text": f"📖 {shorten(original.question, 56)}", "callback_data": f"a:{ENTRY}"}]
        ]
        (chinese,) = notices(fake, USER_ZH)
        assert (
            "状态：📰 媒体或律所报道；未引用官方文本 → ⚖️ 不明确：来源互相矛盾" in chinese.text
            and NEW_ZH_ANSWER in chinese.text
        )
        assert "取消关注：/watching" in chinese.text
        # Sent by the broadcast engine from the outbox: one notice per language, kind "watch".
        sent = data.db.db.execute(
            "SELECT topics, idempotency_key FROM broadcasts ORDER BY id"
        ).fetchall()
        assert sent == [('["watch"]', f"watch:{ENTRY}:1:en"), ('["watch"]', f"watch:{ENTRY}:1:zh")]
        assert Watches(data.db).watchers(ENTRY) == [USER, USER_ZH]
        listing = await send(fake, "/broadcasts", ADMIN, "Watch notice")
        assert "👁 <b>Watch notice #1</b>" in listing.text and "📣" not in listing.text

        # A reload that changes nothing the watchers see tells nobody.
        await send(fake, "/reload", ADMIN, "Reloaded")
        # A new history line written by hand, then reloaded: one more notice, saying just that.
        _, edited = on_disk(kb_dir)
        line = HistoryEvent(
            date=dt.date(2026, 12, 1),
            change="USCIS confirmed the cap for FY2027.",
            source=original.sources[0],
        )
        update_entry(kb_dir, edited.model_copy(update={"history": [*edited.history, line]}))
        await send(fake, "/reload", ADMIN, "Reloaded")
        await fake.wait_for("sendMessage", lambda c: "FY2027" in (c.text or ""), chat_id=USER)
        await asyncio.sleep(0.3)
        assert [len(notices(fake, u)) for u in (USER, USER_ZH)] == [2, 2]
        latest = notices(fake, USER)[-1]
        source = original.sources[0]
        assert latest.text == (
            f"👁 <b>{NOTICE}</b>\n<b>{esc(original.question)}</b>\n\n🕓 New in its history:\n"
            f'• 2026-12-01: USCIS confirmed the cap for FY2027. (<a href="{esc(source.url)}">{esc(source.publisher)}</a>)\n\n{FOOTER}'
        )
    for call in notices(fake, USER) + notices(fake, USER_ZH):
        assert_valid_reply(call.params["text"])
    assert path.exists()


async def test_a_change_made_while_the_bot_was_down_is_told_at_start(
    fake_telegram: FakeTelegram, tmp_path: Path, kb_dir: Path
) -> None:
    fake = fake_telegram
    async with running_bot(fake, tmp_path, VISABOT_KNOWLEDGE_DIR=kb_dir):
        await watch(fake, USER)
    _, entry = on_disk(kb_dir)
    update_entry(kb_dir, entry.model_copy(update={"answer": "Changed while the bot was stopped."}))
    async with running_bot(fake, tmp_path, VISABOT_KNOWLEDGE_DIR=kb_dir):
        await fake.wait_for(
            "sendMessage",
            lambda c: "Changed while the bot was stopped." in (c.text or ""),
            chat_id=USER,
        )
    async with running_bot(
        fake, tmp_path, VISABOT_KNOWLEDGE_DIR=kb_dir
    ):  # told once, not at every start
        await asyncio.sleep(0.5)
    assert len(notices(fake, USER)) == 1


def test_a_new_watcher_starts_from_the_entry_as_it_is_and_notice_keys_never_repeat(
    tmp_path: Path, kb_dir: Path
) -> None:
    """Versions outlive their watchers: a notice's idempotency key (entry, version, language) is
    never reused, and a new watcher is not told about changes made before they watched."""
    storage = Storage(tmp_path / "db.sqlite3")
    started: list[int] = []
    watches = Watches(storage)
    _, entry = on_disk(kb_dir)
    watches.add(USER, entry)

    def change(**update: object) -> KnowledgeBase:
        _, current = on_disk(kb_dir)
        return update_entry(kb_dir, current.model_copy(update=update))

    assert notify_watchers(storage, change(answer="First change."), started.append) == [1]
    assert (
        notify_watchers(storage, load_knowledge_base(kb_dir), started.append) == []
    )  # nothing new
    watches.remove(USER, ENTRY)
    base = change(answer="Changed while nobody watched.", status=Status.UNCLEAR)
    assert notify_watchers(storage, base, started.append) == []
    watches.add(USER_ZH, base.get(ENTRY))  # type: ignore[arg-type]
    assert notify_watchers(storage, change(answer="Second change."), started.append) == [2]
    keys = [r[0] for r in storage.db.execute("SELECT idempotency_key FROM broadcasts ORDER BY id")]
    recipients = storage.db.execute(
        "SELECT broadcast_id, chat_id FROM outbox ORDER BY broadcast_id"
    ).fetchall()
    html = storage.db.execute("SELECT html FROM broadcasts WHERE id = 2").fetchone()[0]
    storage.close()
    assert keys == [f"watch:{ENTRY}:1:en", f"watch:{ENTRY}:2:en"] and started == [1, 2]
    assert recipients == [(1, USER), (2, USER_ZH)]
    assert (
        "Second change." in html and "Status:" not in html
    )  # unclear before and after they watched
