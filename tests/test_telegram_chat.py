"""End to end: the real PTB Application, polling the fake Bot API server over HTTP.

Every assertion is on an HTTP payload the bot actually sent.
"""

from __future__ import annotations

import asyncio
import copy
import html
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from bot.replies.html_check import visible_length
from bot.runtime.commands import COMMANDS, Scope
from knowledge import DEFAULT_KNOWLEDGE_DIR
from knowledge.matcher import Matcher, Outcome
from tests.bot_harness import (
    TOKEN,
    all_written,
    assert_valid_reply,
    running_bot,
    shipped_matcher,
)
from tests.fake_telegram import (
    DEFAULT_GROUP_ID,
    DEFAULT_USER_ID,
    Call,
    FakeTelegram,
    make_callback_query,
    make_command,
    make_document,
    make_edited_message,
    make_group_text,
    make_inline_query,
    make_mention,
    make_photo,
    make_private_text,
    make_sticker,
    make_voice,
)

USER = DEFAULT_USER_ID


def buttons(call: Call) -> list[dict]:  # type: ignore[type-arg]
    markup = call.params.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


async def ask(fake: FakeTelegram, text: str, count: int = 1) -> list[Call]:
    before = len(fake.calls("sendMessage", chat_id=USER))
    fake.push_update(make_private_text(text))
    calls = await fake.wait_for("sendMessage", chat_id=USER, count=before + count)
    return calls[before:]


async def press(fake: FakeTelegram, data: str, on: Call) -> None:
    fake.push_update(make_callback_query(data, message=on.result))


# ---------------------------------------------------------------- start-up and commands


async def test_start_up_sets_scoped_commands_from_the_one_table(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(fake_telegram, tmp_path):
        calls = await fake_telegram.wait_for("setMyCommands", count=4)
    zh = [c for c in calls if c.params.get("language_code") == "zh"]
    calls = [c for c in calls if "language_code" not in c.params]
    assert len(zh) == 2 and all("订阅" in str(c.params["commands"]) for c in zh)
    by_scope = {
        c.params["scope"]["type"]: [cmd["command"] for cmd in c.params["commands"]] for c in calls
    }
    assert by_scope["all_private_chats"] == [c.name for c in COMMANDS if c.scope & Scope.PRIVATE]
    assert by_scope["all_group_chats"] == [c.name for c in COMMANDS if c.scope & Scope.GROUP]
    assert "start" not in by_scope["all_group_chats"]
    assert all(c.token == TOKEN for c in fake_telegram.calls())


async def test_welcome_help_and_about(fake_telegram: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(fake_telegram, tmp_path) as app:
        fake_telegram.push_update(make_command("/start"))
        (welcome,) = await fake_telegram.wait_for("sendMessage", chat_id=USER)
        fake_telegram.push_update(make_command("/help"))
        fake_telegram.push_update(make_command("/about"))
        calls = await fake_telegram.wait_for("sendMessage", chat_id=USER, count=3)
    assert welcome.params["parse_mode"] == "HTML"
    assert (
        "K visa" in welcome.text and "H-1B" in welcome.text and "not legal advice" in welcome.text
    )
    assert [b["callback_data"] for b in buttons(welcome)] == ["t", "subscribe-menu"]
    help_text = next(c.text for c in calls if "How to use" in c.text)
    for command in COMMANDS:
        assert (f"/{command.name} " in help_text) is not bool(command.scope & Scope.ADMIN)
    about = next(c.text for c in calls if "About visabot" in c.text)
    entries = app.bot_data.matcher.base.entries
    assert f"{len(entries)} curated entries" in about
    assert max(e.verified_on for e in entries).isoformat() in about
    for call in calls:
        assert_valid_reply(call.text)


async def test_deep_link_opens_an_entry(fake_telegram: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(fake_telegram, tmp_path):
        fake_telegram.push_update(make_command("/start h1b-masters-cap"))
        (reply,) = await fake_telegram.wait_for("sendMessage", chat_id=USER)
    assert "20,000" in reply.text


# ---------------------------------------------------------------- answers


async def test_answer_message_has_every_part(fake_telegram: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(fake_telegram, tmp_path) as app:
        (reply,) = await ask(fake_telegram, "h1b 100k fee anual or one time??")
    entry = app.bot_data.matcher.base.get("h1b-100k-one-time")
    text = reply.text
    assert reply.params["parse_mode"] == "HTML"
    assert reply.params["link_preview_options"] == {"is_disabled": True}
    # The payment's proclamation was set to end on 21 Sep 2026: after that the reply opens with
    # that warning, the page to check as a link, and shows the status as unclear.
    if entry.lapsed():
        assert text.startswith("<b>⏳ This rule was set to end on 21 Sep 2026 unless extended")
        assert f'<a href="{entry.in_force_check}">check the official page</a>' in text
    assert f"<b>{html.escape(entry.question)}</b>\n\n{html.escape(entry.answer)}" in text
    badge = "⚖️ Unclear" if entry.lapsed() else "📰 Reported, unofficial source"
    assert (
        f"{badge} · As of {entry.as_of.isoformat()}" in text
    )  # one line: status, date, disclaimer
    assert f"⚠️ {html.escape(entry.caveats[0])}" in text  # the first caveat on the first screen
    assert all(html.escape(c) not in text for c in entry.caveats[1:])
    assert not any(s.url in text for s in entry.sources)
    assert "not legal advice" in text
    assert visible_length(text) <= 1500  # a phone's first screen, not the 2,000+ of the full entry
    assert_valid_reply(text)
    data = [b["callback_data"] for b in buttons(reply)]
    more = len(entry.caveats) - 1
    assert [b["text"] for b in buttons(reply)[:3]] == [
        f"⚠️ {more} more caveats",
        "📚 Sources",
        "🕓 History",
    ]
    assert data[:3] == ["x:h1b-100k-one-time:c", "x:h1b-100k-one-time:r", "x:h1b-100k-one-time:h"]
    assert data[-4:] == [
        "v:h1b-100k-one-time:1",
        "v:h1b-100k-one-time:0",
        "sub:h1b",
        "w:h1b-100k-one-time",
    ]
    assert data[3:-4] == [f"a:{r}" for r in entry.related[:3]]
    assert all(len(d.encode()) <= 64 for d in data)


async def test_expand_buttons_edit_the_answer_in_place(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(fake_telegram, tmp_path) as app:
        (reply,) = await ask(fake_telegram, "h1b 100k fee anual or one time??")
        await press(fake_telegram, "x:h1b-100k-one-time:r", reply)
        (sources,) = await fake_telegram.wait_for("editMessageText", count=1)
        await press(fake_telegram, "x:h1b-100k-one-time:f", reply)
        full = (await fake_telegram.wait_for("editMessageText", count=2))[-1]
        await press(fake_telegram, "x:h1b-100k-one-time:s", reply)
        short = (await fake_telegram.wait_for("editMessageText", count=3))[-1]
        await press(fake_telegram, "x:h1b-100k-one-time:h", reply)
        history = (await fake_telegram.wait_for("editMessageText", count=4))[-1]
    entry = app.bot_data.matcher.base.get("h1b-100k-one-time")
    for source in entry.sources:
        assert (
            f'<a href="{source.url.replace("&", "&amp;")}">' in sources.text
            and source.url.replace("&", "&amp;") in full.text
        )
    assert (
        html.escape(entry.caveats[-1]) not in sources.text
        and html.escape(entry.caveats[-1]) in full.text
    )
    assert short.text == reply.text and not any(s.url in short.text for s in entry.sources)
    assert "🕓 <b>History</b>" in history.text and all(
        h.date.isoformat() in history.text for h in entry.history
    )
    assert_valid_reply(history.text)
    for call, expand in (
        (sources, ["x:h1b-100k-one-time:f", "x:h1b-100k-one-time:h", "x:h1b-100k-one-time:s"]),
        (full, ["x:h1b-100k-one-time:h", "x:h1b-100k-one-time:s"]),
    ):
        data = [b["callback_data"] for b in buttons(call)]
        assert data[: len(expand)] == expand and data[-2:] == [
            "sub:h1b",
            "w:h1b-100k-one-time",
        ]  # the rest kept
        assert_valid_reply(call.text)
    assert [b["callback_data"] for b in buttons(short)] == [
        b["callback_data"] for b in buttons(reply)
    ]


async def test_related_button_opens_that_answer(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(fake_telegram, tmp_path):
        (reply,) = await ask(fake_telegram, "What is the H-1B master's cap?")
        first_related = next(
            b["callback_data"] for b in buttons(reply) if b["callback_data"].startswith("a:")
        )
        await press(fake_telegram, first_related, reply)
        await fake_telegram.wait_for("answerCallbackQuery")
        calls = await fake_telegram.wait_for("sendMessage", chat_id=USER, count=2)
    assert calls[-1].text != reply.text
    assert_valid_reply(calls[-1].text)


def vote_labels(call: Call) -> list[str]:
    return [b["text"] for b in buttons(call) if b["callback_data"].startswith("v:")]


async def test_a_vote_is_ticked_and_can_be_changed_without_storing_the_user(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    fake = fake_telegram
    async with running_bot(fake, tmp_path) as app:
        (reply,) = await ask(fake, "What is the H-1B master's cap?")
        storage = app.bot_data.db
        on = reply
        tallies, downvoted = [], []
        for n, data in enumerate(
            ["v:h1b-masters-cap:1", "v:h1b-masters-cap:0", "v:h1b-masters-cap:1"], 1
        ):
            await press(fake, data, on)
            on = (await fake.wait_for("editMessageReplyMarkup", count=n))[
                -1
            ]  # the keyboard as it now is
            tallies.append(storage.votes("h1b-masters-cap"))
            downvoted.append([questions for _, _, _, questions in storage.most_downvoted()])
        await press(fake, "v:h1b-masters-cap:1", on)  # the same vote again counts nothing
        answers = await fake.wait_for("answerCallbackQuery", count=4)
        await fake.wait_for_updates_delivered()
        tallies.append(storage.votes("h1b-masters-cap"))
        dump = "\n".join(
            str(row) for table in storage.db.table_names() for row in storage.db[table].rows
        )
    edits = fake.calls("editMessageReplyMarkup")
    assert vote_labels(reply) == ["👍 Helpful", "👎 Not helpful"]
    assert [vote_labels(e) for e in edits] == [
        ["👍 Helpful ✓", "👎 Not helpful"],
        ["👍 Helpful", "👎 Not helpful ✓"],
        ["👍 Helpful ✓", "👎 Not helpful"],
    ]
    others = [b for b in buttons(reply) if not b["callback_data"].startswith("v:")]
    assert all(
        [b for b in buttons(e) if not b["callback_data"].startswith("v:")] == others for e in edits
    )
    assert [a.params["text"] for a in answers] == [
        "Thanks for the feedback!",
        "Vote changed. Thanks!",
        "Vote changed. Thanks!",
        "Your vote is already counted.",
    ]
    assert tallies == [(1, 0), (0, 1), (1, 0), (1, 0)]  # a change moves the vote, never counts two
    assert downvoted == [
        [],
        [["What is the H-1B master's cap?"]],
        [],
    ]  # a 👎 taken back takes its question
    assert str(USER) not in dump


async def test_a_vote_on_a_chinese_answer_is_ticked_and_thanked_in_chinese(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    fake = fake_telegram
    async with running_bot(fake, tmp_path):
        (reply,) = await ask(fake, "K字签证有年龄限制吗")
        (vote,) = [b["callback_data"] for b in buttons(reply) if b["callback_data"].endswith(":1")]
        await press(fake, vote, reply)
        (ticked,) = await fake.wait_for("editMessageReplyMarkup")
        (thanks,) = await fake.wait_for("answerCallbackQuery")
    assert vote_labels(reply) == ["👍 有帮助", "👎 没帮助"]
    assert vote_labels(ticked) == ["👍 有帮助 ✓", "👎 没帮助"]
    assert thanks.params["text"] == "感谢你的反馈！"


async def test_stale_entry_shows_review_note(fake_telegram: FakeTelegram, tmp_path: Path) -> None:
    knowledge = tmp_path / "kb"
    shutil.copytree(DEFAULT_KNOWLEDGE_DIR / "entries", knowledge / "entries")
    shutil.copy(DEFAULT_KNOWLEDGE_DIR / "synonyms.yaml", knowledge / "synonyms.yaml")
    path = knowledge / "entries" / "h1b" / "h1b-masters-cap.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data.update(as_of="2025-01-01", verified_on="2025-01-02", review_after_days=30)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    async with running_bot(fake_telegram, tmp_path, VISABOT_KNOWLEDGE_DIR=knowledge):
        (reply,) = await ask(fake_telegram, "What is the H-1B master's cap?")
    assert "⏰ re-check due 2025-02-01" in reply.text  # on the status line of the first screen


async def test_long_answer_is_split_with_caveats_whole(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    knowledge = tmp_path / "kb"
    shutil.copytree(DEFAULT_KNOWLEDGE_DIR / "entries", knowledge / "entries")
    path = knowledge / "entries" / "h1b" / "h1b-masters-cap.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["caveats"] = [f"Caveat {n}: " + "a careful <note> & detail " * 12 for n in range(10)]
    data["sources"] = data["sources"] * 12
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    async with running_bot(fake_telegram, tmp_path, VISABOT_KNOWLEDGE_DIR=knowledge):
        fake_telegram.push_update(make_command("/start h1b-masters-cap"))
        await fake_telegram.wait_for("sendMessage", chat_id=USER, count=2)
        await fake_telegram.wait_for_updates_delivered()
        calls = await fake_telegram.wait_for(
            "sendMessage", chat_id=USER, predicate=lambda c: bool(buttons(c))
        )
        calls = fake_telegram.calls("sendMessage", chat_id=USER)
    assert len(calls) >= 2
    with_caveats = [c for c in calls if "Caveats" in c.text]
    assert len(with_caveats) == 1 and all(f"Caveat {n}:" in with_caveats[0].text for n in range(10))
    assert "&lt;note&gt; &amp; detail" in with_caveats[0].text
    for call in calls:
        assert_valid_reply(call.text)
    assert buttons(calls[-1]) and not any(buttons(c) for c in calls[:-1])


# ---------------------------------------------------------------- clarify and decline


# Questions that name a topic but not one entry.
VAGUE = [
    "h1b rules",
    "h1b fees",
    "k visa rules",
    "h1b stamping",
    "h1b h4",
    "h1b registration",
    "fee",
]


def matcher_with_a_clarify_band() -> Matcher:
    """The shipped index with a "did you mean" band below its answer threshold. Calibration
    decides whether the shipped model has one (`visabot kb calibrate` drops it when a wrong first
    choice there is too common), but the bot must show the choices well whenever it does. A
    shallow copy shares the shipped indexes (read-only) instead of building them again."""
    shipped = shipped_matcher()
    t = shipped.model.thresholds
    banded = copy.copy(shipped)
    banded.model = replace(
        shipped.model, thresholds=replace(t, clarify=min(t.clarify, t.answer - 0.15))
    )
    return banded


async def test_clarify_offers_choices_and_a_choice_answers(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    matcher = matcher_with_a_clarify_band()
    async with running_bot(fake_telegram, tmp_path, matcher=matcher) as app:
        vague = [q for q in VAGUE if matcher.match(q).outcome is Outcome.CLARIFY]
        assert vague, "none of the vague questions is clarified any more: pick new ones"
        (reply,) = await ask(fake_telegram, vague[0])
        choices = buttons(reply)
        assert "Did you mean" in reply.text and 1 <= len(choices) <= 3
        assert all(b["callback_data"].startswith("a:") for b in choices)
        await press(fake_telegram, choices[0]["callback_data"], reply)
        calls = await fake_telegram.wait_for("sendMessage", chat_id=USER, count=2)
    chosen = app.bot_data.matcher.base.get(choices[0]["callback_data"][2:])
    # The chosen entry's answer, headed by its question (after a lapse note, for a rule whose own
    # end date has passed).
    assert f"<b>{html.escape(chosen.question)}</b>" in calls[-1].text


async def test_decline_logs_question_without_user(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(fake_telegram, tmp_path) as app:
        (reply,) = await ask(fake_telegram, "bitcoin price today")
        await ask(fake_telegram, "Bitcoin price today!")
        unanswered = app.bot_data.db.unanswered()
    assert "don't have a sourced answer" in reply.text
    assert "t" in [b["callback_data"] for b in buttons(reply)]
    assert unanswered[0]["count"] == 2 and "bitcoin" in unanswered[0]["text"].lower()
    assert set(unanswered[0]) == {"text", "count", "first_seen", "last_seen"}


async def test_decline_offers_nearest_entries_when_somewhat_close(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(fake_telegram, tmp_path):
        (reply,) = await ask(fake_telegram, "what about the k visa interview questions they ask")
    labels = [b["callback_data"] for b in buttons(reply)]
    assert labels[-1] == "t"
    assert 1 <= sum(label.startswith("a:") for label in labels) <= 3
    # Close entries listed: the bot is unsure, it does not claim to have nothing.
    assert "not sure which of my sourced answers fits that <b>K visa</b> question" in reply.text
    assert "don't have a sourced answer" not in reply.text


async def test_a_decline_that_names_no_visa_but_lists_entries_is_unsure_too(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    """No visa named, so the reply promises the maintainers nothing; but the entries listed may
    well answer it, so it must not claim there is no sourced answer."""
    async with running_bot(fake_telegram, tmp_path):
        (reply,) = await ask(fake_telegram, "can my wife work there")
    assert any(b["callback_data"].startswith("a:") for b in buttons(reply))
    assert "not sure which of my sourced answers fits that, so I won't guess" in reply.text
    assert "don't have a sourced answer" not in reply.text
    assert "passed to the maintainers" not in reply.text


# ---------------------------------------------------------------- browsing


async def test_topics_navigation_pages_and_back(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(fake_telegram, tmp_path):
        fake_telegram.push_update(make_command("/topics"))
        (menu,) = await fake_telegram.wait_for("sendMessage", chat_id=USER)
        topics = [b["callback_data"] for b in buttons(menu)]
        assert topics == ["t:k-visa:0", "t:h1b:0", "t:compare:0", "t:context:0"]
        await press(fake_telegram, "t:h1b:0", menu)
        (page0,) = await fake_telegram.wait_for("editMessageText", count=1)
        await press(fake_telegram, "t:h1b:1", menu)
        edits = await fake_telegram.wait_for("editMessageText", count=2)
        await press(fake_telegram, "t", menu)
        edits = await fake_telegram.wait_for("editMessageText", count=3)
    page0_data = [b["callback_data"] for b in buttons(page0)]
    assert sum(d.startswith("a:h1b-") for d in page0_data) == 8
    assert page0_data[:2] == [
        "a:h1b-what-is-it",
        "a:h1b-100k-one-time",
    ]  # curated, not alphabetical
    assert "t:h1b:1" in page0_data and page0_data[-1] == "t"
    page1_data = [b["callback_data"] for b in buttons(edits[1])]
    assert "t:h1b:0" in page1_data and "page 2 of" in edits[1].text
    assert [b["callback_data"] for b in buttons(edits[2])] == topics


# ---------------------------------------------------------------- groups, inline, media, edits


async def test_group_answers_only_ask_mention_and_replies(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    group = DEFAULT_GROUP_ID
    async with running_bot(fake_telegram, tmp_path):
        fake_telegram.push_update(make_group_text("does anyone know the h1b cap?"))
        fake_telegram.push_update(
            make_group_text(
                "lol",
                reply_to_message={
                    "message_id": 5,
                    "date": 0,
                    "chat": {"id": group, "type": "supergroup"},
                    "from": {"id": 5, "is_bot": False, "first_name": "Bob"},
                    "text": "hi",
                },
            )
        )
        fake_telegram.push_update(
            make_command("/ask@visabot_test_bot h1b cap how many", chat_id=group)
        )
        await fake_telegram.wait_for("sendMessage", chat_id=group, count=1)
        fake_telegram.push_update(make_mention("what is the H-1B master's cap?"))
        await fake_telegram.wait_for("sendMessage", chat_id=group, count=2)
        fake_telegram.push_update(
            make_group_text("is the h1b 100k fee charged every year?", reply_to_bot=True)
        )
        calls = await fake_telegram.wait_for("sendMessage", chat_id=group, count=3)
        await fake_telegram.wait_for_updates_delivered()
    assert len(calls) == 3
    assert "85,000" in calls[0].text or "65,000" in calls[0].text
    assert "20,000" in calls[1].text
    assert "one-time" in calls[2].text.lower()
    for call in calls:  # the short form, with the caveats and sources one tap away in private
        (link,) = buttons(call)
        assert (
            link["url"].startswith("https://t.me/visabot_test_bot?start=")
            and "<b>Sources</b>" not in call.text
        )


async def test_inline_mode(fake_telegram: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(fake_telegram, tmp_path) as app:
        await ask(fake_telegram, "What is the H-1B master's cap?")
        await all_written(app)  # the ask counter is bookkeeping, queued after the reply
        fake_telegram.push_update(make_inline_query("h1b 100k annual"))
        fake_telegram.push_update(make_inline_query(""))
        calls = await fake_telegram.wait_for("answerInlineQuery", count=2)
    by_query = {len(c.params["results"]) > 0 and c.params["results"][0]["id"]: c for c in calls}
    assert "h1b-100k-one-time" in by_query
    for call in calls:
        results = call.params["results"]
        assert 1 <= len(results) <= 10
        for result in results:
            content = result["input_message_content"]
            assert content["parse_mode"] == "HTML"
            assert_valid_reply(content["message_text"])
    empty = next(c for c in calls if c.params["results"][0]["id"] == "h1b-masters-cap")
    assert len(empty.params["results"]) == 10


@pytest.mark.parametrize("factory", [make_sticker, make_photo, make_voice, make_document])
async def test_media_gets_one_line(fake_telegram: FakeTelegram, tmp_path: Path, factory) -> None:  # type: ignore[no-untyped-def]
    async with running_bot(fake_telegram, tmp_path):
        fake_telegram.push_update(factory(USER, USER))
        (reply,) = await fake_telegram.wait_for("sendMessage", chat_id=USER)
    assert "only read text" in reply.text and "\n" not in reply.text


async def test_edited_messages_are_ignored(fake_telegram: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(fake_telegram, tmp_path):
        fake_telegram.push_update(make_edited_message("h1b cap how many"))
        fake_telegram.push_update(make_command("/help"))
        await fake_telegram.wait_for("sendMessage", chat_id=USER)
        await fake_telegram.wait_for_updates_delivered()
    assert len(fake_telegram.calls("sendMessage")) == 1


# ---------------------------------------------------------------- flood guard and errors


async def test_flood_guard_warns_once_then_stays_silent(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(fake_telegram, tmp_path):
        for _ in range(25):
            fake_telegram.push_update(make_private_text("h1b cap how many"))
        await fake_telegram.wait_for("sendMessage", chat_id=USER, count=21)
        await fake_telegram.wait_for_updates_delivered()
    texts = fake_telegram.sent_texts(USER)
    assert sum("very fast" in t for t in texts) == 1
    assert len(texts) == 21


async def test_error_is_logged_apologised_and_bot_keeps_running(
    fake_telegram: FakeTelegram, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret_question = "h1b cap how many for my secret-project"
    async with running_bot(fake_telegram, tmp_path):
        fake_telegram.fail_next("sendMessage", 500, "Internal Server Error")
        fake_telegram.push_update(make_private_text(secret_question))
        calls = await fake_telegram.wait_for("sendMessage", chat_id=USER, count=2)
        (after,) = await ask(fake_telegram, "What is the H-1B master's cap?")
    assert "Sorry, something went wrong" in calls[1].text
    assert "20,000" in after.text
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "error while handling update" in logged
    assert TOKEN not in logged and "secret-project" not in logged


async def test_user_text_is_escaped_in_usage_replies(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(fake_telegram, tmp_path):
        fake_telegram.push_update(make_command("/ask"))
        (reply,) = await fake_telegram.wait_for("sendMessage", chat_id=USER)
    assert_valid_reply(reply.text)
    assert re.search(r"<code>/ask .*</code>", reply.text)


def test_readme_lists_exactly_the_commands_table() -> None:
    from bot.runtime.commands import readme_table

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = (
        readme.split("<!-- commands:start", 1)[1]
        .split("\n", 1)[1]
        .split("<!-- commands:end -->", 1)[0]
    )
    assert block.strip() == readme_table()


# ---------------------------------------------------------------- conversation


async def test_small_talk_gets_a_short_hello_and_is_not_a_gap(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(fake_telegram, tmp_path) as app:
        (hello,) = await ask(fake_telegram, "hello!")
        (thanks,) = await ask(fake_telegram, "thanks")
        assert app.bot_data.db.unanswered() == []
    assert "K visa" in hello.text and "H-1B" in hello.text
    assert "welcome" in thanks.text.lower()


async def test_a_compound_question_gets_both_answers(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(fake_telegram, tmp_path) as app:
        replies = await ask(
            fake_telegram,
            "is the 100k fee annual for h1b and also what is the k visa age limit?",
            count=2,
        )
    kb = app.bot_data.matcher.base
    titles = {next(b for b in r.text.split("\n\n") if not b.startswith("<b>⏳")) for r in replies}
    assert titles == {
        f"<b>{html.escape(kb.get('h1b-100k-one-time').question)}</b>",
        f"<b>{html.escape(kb.get('k-visa-age-limit').question)}</b>",
    }


async def _answer_recorded(app, sent: Call) -> None:  # type: ignore[no-untyped-def]
    """The fake logs a reply as it receives it; the bot records which entry it showed once the
    response is back. A person types slower than that; a test must wait for it."""
    key = (USER, sent.result["message_id"])
    for _ in range(200):
        if key in app.bot_data.recent_answers:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the bot never recorded its answer")


async def test_a_reply_to_an_answer_is_read_as_a_follow_up(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(fake_telegram, tmp_path) as app:
        (first,) = await ask(fake_telegram, "is there an age limit for the k visa?")
        await _answer_recorded(app, first)
        fake_telegram.push_update(
            make_private_text("and how much does it cost?", reply_to_message=first.result)
        )
        calls = await fake_telegram.wait_for("sendMessage", chat_id=USER, count=2)
    fees = app.bot_data.matcher.base.get("k-visa-fees")
    assert calls[1].text.startswith(f"<b>{html.escape(fees.question)}</b>")


async def test_a_quick_follow_up_in_private_uses_the_last_answer(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(fake_telegram, tmp_path) as app:
        (first,) = await ask(fake_telegram, "can my spouse and kids come with me on h1b?")
        await _answer_recorded(app, first)
        (reply,) = await ask(fake_telegram, "and for the k visa?")
    family = app.bot_data.matcher.base.get("k-visa-family")
    assert reply.text.startswith(f"<b>{html.escape(family.question)}</b>")


async def test_an_unanswerable_h1b_question_is_a_gap_not_off_topic(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(fake_telegram, tmp_path) as app:
        (reply,) = await ask(fake_telegram, "h1b rules for my pet parrot")
        (off,) = await ask(fake_telegram, "best pizza in naples")
        gaps = [row["text"] for row in app.bot_data.db.unanswered()]
    assert (
        "that <b>H-1B</b> question yet" in reply.text and "passed to the maintainers" in reply.text
    )
    assert "I cover China's K visa and the US H-1B" in off.text
    assert "h1b rules for my pet parrot" in gaps
