"""End to end: maintainers' knowledge-base work (/add, /edit, /gaps, /feedback, /reload) and the
privacy commands (/forget, /privacy), through the real PTB Application and the fake Bot API.

Every test works on a temporary copy of the knowledge folder, never on the shipped one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import difflib
import hashlib
import html
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from bot.i18n import Lang, entry_text
from bot.replies.telegram_view import View, entry_messages, entry_view_messages
from handlers.gaps import gap_token
from knowledge import DEFAULT_KNOWLEDGE_DIR
from knowledge.authoring import slug_for
from knowledge.bilingual import fingerprint
from knowledge.loader import load_knowledge_base, parse_entry_text
from knowledge.model import Topic
from knowledge.writer import chinese_on_disk, update_entry
from tests.bot_harness import TOKEN, assert_valid_reply, running_bot
from tests.fake_telegram import (
    DEFAULT_GROUP_ID,
    DEFAULT_USER_ID,
    Call,
    FakeTelegram,
    make_callback_query,
    make_command,
    make_private_text,
)

USER = DEFAULT_USER_ID
ADMIN = 4242  # VISABOT_ADMIN_IDS in tests.bot_harness
ADMIN2 = 4343
ZEBRA = "Can a K visa holder bring a pet zebra to China?"
ZEBRA_ALTERNATES = [
    "k visa zebra",
    "bringing my zebra on a k visa",
    "is a pet zebra allowed with the k visa",
]
ZEBRA_ANSWER = (
    "No. The K visa covers the holder only; zebras need a separate import permit.\n\nAsk the zoo."
)
ZEBRA_SOURCE = "Import of exotic animals | Example Customs | https://www.visaverge.com/zebra?a=1&b=2 | c. 2026-11-01 | news"
ZEBRA_ZH = "K字签证持有人可以带宠物斑马去中国吗？"
ZEBRA_ZH_ANSWER = "不可以。K字签证只适用于持有人本人；斑马需要单独的进口许可。\n\n请咨询动物园。"
MASTERS = "What is the H-1B master's cap?"


def snapshot(root: Path) -> dict[str, str]:
    """Every entry file and a hash of its content."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((root / "entries").glob("*/*.yaml"))
    }


def buttons(call: Call) -> list[dict]:  # type: ignore[type-arg]
    markup = call.params.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


def seen(fake: FakeTelegram) -> set[int]:
    return {id(c) for c in fake.calls()}


async def new_call(
    fake: FakeTelegram,
    before: set[int],
    method: str,
    chat: int,
    expect: str | Callable[[str], bool],
) -> Call:
    test = expect if callable(expect) else (lambda t: expect in t)
    calls = await fake.wait_for(
        method, predicate=lambda c: id(c) not in before and test(c.text or ""), chat_id=chat
    )
    return calls[-1]


async def send(fake: FakeTelegram, text: str, user: int = ADMIN, expect: str = "") -> Call:
    """Send a command or text from `user`; the next bot message to them that contains `expect`."""
    before = seen(fake)
    fake.push_update(
        make_command(text, user_id=user)
        if text.startswith("/")
        else make_private_text(text, user_id=user)
    )
    return await new_call(fake, before, "sendMessage", user, expect)


async def press(
    fake: FakeTelegram,
    data: str,
    on: Call | None,
    user: int = ADMIN,
    expect: str | Callable[[str], bool] | None = None,
    method: str = "sendMessage",
) -> Call:
    """Press a button; the callback answer, or (with `expect`) the next message or edit."""
    before = seen(fake)
    message = on.result if on is not None else None
    fake.push_update(make_callback_query(data, user_id=user, message=message))
    answer = (await fake.wait_for("answerCallbackQuery", predicate=lambda c: id(c) not in before))[
        -1
    ]
    if expect is None:
        return answer
    return await new_call(fake, before, method, user, expect)


async def save(
    fake: FakeTelegram,
    summary: Call,
    user: int = ADMIN,
    expect: str = "Saved",
    rechecked: bool = False,
) -> Call:
    """Press Save (or, for an edit, "Save · I re-checked every source today"); confirm the
    warnings (Save anyway) when the bot lists some first."""
    button = "ey" if rechecked else "ev"
    reply = await press(
        fake,
        f"{button}:{nonce_of(summary)}",
        summary,
        user,
        expect=lambda t: "Not saved yet" in t or expect in t,
    )
    if "Not saved yet" in (reply.text or ""):
        reply = await press(fake, f"ew:{nonce_of(summary)}", reply, user, expect=expect)
    return reply


def nonce_of(call: Call) -> str:
    return str(buttons(call)[0]["callback_data"]).split(":")[1]


async def draft_to_preview(
    fake: FakeTelegram,
    user: int = ADMIN,
    question: str = ZEBRA,
    answer: str = ZEBRA_ANSWER,
    topic: str = "k-visa",
    status: str = "reported",
) -> Call:
    """/add through every step with valid input; returns the preview's summary (Save / Cancel)."""
    await send(fake, "/add", user, "step 1 of 10")
    await send(fake, question, user, "step 2 of 10")
    await send(fake, "\n".join([*ZEBRA_ALTERNATES, "done"]), user, "step 3 of 10")
    await send(fake, answer, user, "step 4 of 10")
    await send(fake, "none", user, "step 5 of 10")
    topics = await send(fake, ZEBRA_SOURCE + "\ndone", user, "step 6 of 10")
    statuses = await press(
        fake, f"et:{nonce_of(topics)}:{topic}", topics, user, expect="step 7 of 10"
    )
    await press(fake, f"es:{nonce_of(statuses)}:{status}", statuses, user, expect="step 8 of 10")
    return await chinese_to_preview(fake, user)


async def chinese_to_preview(
    fake: FakeTelegram, user: int = ADMIN, caveats: tuple[str, ...] = ()
) -> Call:
    """The Chinese steps (question, answer, caveats when there are any to type); the preview."""
    await send(fake, ZEBRA_ZH, user, "step 9 of 10")
    last = await send(fake, ZEBRA_ZH_ANSWER, user, "step 10 of 10" if caveats else "Preview")
    return await send(fake, "\n".join(caveats), user, "Preview") if caveats else last


def assert_all_payloads_valid(fake: FakeTelegram) -> None:
    """Every text the bot sent or edited is valid Telegram HTML; every button's data ≤ 64 bytes."""
    for call in fake.calls():
        if call.method in ("sendMessage", "editMessageText"):
            assert_valid_reply(call.text or "")
        for button in buttons(call):
            if "callback_data" in button:
                assert len(str(button["callback_data"]).encode()) <= 64, button


# ---------------------------------------------------------------- /add


async def test_add_walks_every_step_and_the_saved_entry_answers_at_once(
    fake_telegram: FakeTelegram, tmp_path: Path, kb_dir: Path
) -> None:
    fake = fake_telegram
    async with running_bot(fake, tmp_path, VISABOT_KNOWLEDGE_DIR=kb_dir) as app:
        before = len(app.bot_data.matcher.base.entries)
        (declined,) = [await send(fake, "Can I bring my pet zebra on a K visa?", USER)]
        await send(fake, "/add", ADMIN, "step 1 of 10")
        await send(fake, ZEBRA, ADMIN, "step 2 of 10")
        # Alternates: too few, a duplicate, one per message, then done.
        few = await send(fake, "k visa zebra\nbringing my zebra on a k visa\ndone", ADMIN, "Got")
        dup = await send(fake, "K visa zebra", ADMIN, "Got")
        await send(fake, "- is a pet zebra allowed with the k visa", ADMIN, "Got")
        await send(fake, "done", ADMIN, "step 3 of 10")
        # Answer: over 900 characters is refused.
        too_long = await send(fake, "z" * 901, ADMIN, "901 characters")
        await send(fake, ZEBRA_ANSWER, ADMIN, "step 4 of 10")
        await send(fake, "Zoos may have their own rules.\ndone", ADMIN, "step 5 of 10")
        # Sources: malformed lines and URLs are refused with the reason; done needs one.
        parts = await send(fake, "just a title", ADMIN, "Not added")
        bad_url = await send(
            fake, "T | P | htp://example.org | 2026-11-01 | news", ADMIN, "Not added"
        )
        spaced = await send(
            fake, "T | P | https://exa mple.org | 2026-11-01 | news", ADMIN, "Not added"
        )
        bad_tier = await send(
            fake, "T | P | https://example.org | 2026-11-01 | blog", ADMIN, "Not added"
        )
        none_yet = await send(fake, "done", ADMIN, "at least one")
        await send(fake, ZEBRA_SOURCE, ADMIN, "Got 1")
        topics = await send(fake, "done", ADMIN, "step 6 of 10")
        assert [b["callback_data"] for b in buttons(topics)][:4] == [
            f"et:{nonce_of(topics)}:{t.value}" for t in Topic
        ]
        stale = await press(fake, "et:00000000:k-visa", topics, ADMIN)
        statuses = await press(
            fake, f"et:{nonce_of(topics)}:k-visa", topics, ADMIN, expect="step 7 of 10"
        )
        zh_step = await press(
            fake, f"es:{nonce_of(statuses)}:reported", statuses, ADMIN, expect="step 8 of 10"
        )
        summary = await chinese_to_preview(fake, ADMIN, ("动物园可能有自己的规定。",))
        sent = [c.text for c in fake.calls("sendMessage", chat_id=ADMIN)]
        assert [b["callback_data"] for b in buttons(summary)] == [
            f"ev:{nonce_of(summary)}",
            f"ex:{nonce_of(summary)}",
        ]
        warned = await press(
            fake, buttons(summary)[0]["callback_data"], summary, ADMIN, expect="Not saved yet"
        )
        saved = await press(fake, f"ew:{nonce_of(summary)}", warned, ADMIN, expect="Saved")
        # Answerable at once, without a restart.
        (answer,) = [await send(fake, "Can I bring my pet zebra on a K visa?", USER)]
        entry = app.bot_data.matcher.base.get("k-visa-holder-bring-pet-zebra-china")
        assert entry is not None and len(app.bot_data.matcher.base.entries) == before + 1
    assert "zebra" not in declined.text.lower()  # not answered before the entry exists
    assert "[no-official-source]" in warned.text and [b["text"] for b in buttons(warned)] == [
        "⚠️ Save anyway",
        "Cancel",
    ]
    assert "appear literally" in summary.text  # HTML typed into the answer is not formatting
    assert "2 in all" in few.text and "at least 3" in few.text
    assert "already there" in dup.text
    assert "at most 900" in too_long.text
    assert "expected 5 parts" in parts.text
    assert (
        "http:// or https://" in bad_url.text
        and "spaces" in spaced.text
        and "tier" in bad_tier.text
    )
    assert "at least one is needed" in none_yet.text
    assert "closed" in stale.params["text"]
    assert ZEBRA in zh_step.text and "中文" in zh_step.text  # the English it translates is shown
    # The preview shows the whole entry in both languages; users now get its first screen.
    screens, zh = entry_messages(entry), app.bot_data.matcher.base.chinese[entry.id]
    zh_screens = entry_view_messages(
        entry, View.FULL, text=entry_text(entry, Lang.ZH, {entry.id: zh})
    )
    end = sent.index(summary.text) - len(zh_screens)
    assert (
        sent[end - len(screens) : end] == screens and answer.text == entry_view_messages(entry)[0]
    )
    assert sent[end : end + len(zh_screens)] == zh_screens and ZEBRA_ZH in zh_screens[0]
    assert (
        "k-visa-holder-bring-pet-zebra-china" in summary.text and "Alternates (3)" in summary.text
    )
    path = kb_dir / "entries" / "k-visa" / "k-visa-holder-bring-pet-zebra-china.yaml"
    assert "entries/k-visa/k-visa-holder-bring-pet-zebra-china.yaml" in saved.text
    on_disk, problems = parse_entry_text(path.read_text(encoding="utf-8"), path)
    assert not problems and on_disk == entry
    assert entry.status.value == "reported" and entry.review_after_days == 30
    assert entry.caveats == ["Zoos may have their own rules."] and entry.sources[0].approximate
    assert (
        entry.as_of == entry.sources[0].date and entry.verified_on == dt.date.today()
    )  # newest source; read today
    assert len(load_knowledge_base(kb_dir).entries) == before + 1
    assert not (DEFAULT_KNOWLEDGE_DIR / "entries" / "k-visa" / path.name).exists()
    assert_all_payloads_valid(fake)


async def test_cancel_and_closed_drafts_write_nothing(
    fake_telegram: FakeTelegram, tmp_path: Path, kb_dir: Path
) -> None:
    fake = fake_telegram
    files = snapshot(kb_dir)
    async with running_bot(fake, tmp_path, VISABOT_KNOWLEDGE_DIR=kb_dir):
        await send(fake, "/add", ADMIN, "step 1 of 10")
        await send(fake, ZEBRA, ADMIN, "step 2 of 10")
        cancelled = await send(fake, "/cancel", ADMIN, "Cancelled")
        # The draft is gone: the maintainer's text is a question again.
        answer = await send(fake, MASTERS, ADMIN)
        summary = await draft_to_preview(fake)
        edit = await press(
            fake,
            f"ex:{nonce_of(summary)}",
            summary,
            ADMIN,
            expect="cancelled",
            method="editMessageText",
        )
        late_save = await press(fake, f"ev:{nonce_of(summary)}", summary, ADMIN)
        # A double tap on Save saves once.
        summary = await draft_to_preview(fake)
        warned = await press(
            fake, f"ev:{nonce_of(summary)}", summary, ADMIN, expect="Not saved yet"
        )
        save = f"ew:{nonce_of(summary)}"
        before = seen(fake)
        fake.push_update(make_callback_query(save, user_id=ADMIN, message=warned.result))
        fake.push_update(make_callback_query(save, user_id=ADMIN, message=warned.result))
        answers = await fake.wait_for(
            "answerCallbackQuery", predicate=lambda c: id(c) not in before, count=2
        )
        await new_call(fake, before, "sendMessage", ADMIN, "Saved")
    assert "nothing was saved" in cancelled.text and "20,000" in answer.text
    assert "cancelled" in edit.text and "closed" in late_save.params["text"]
    assert min(a.params.get("text") or "" for a in answers).startswith("Saving")
    assert any("closed" in (a.params.get("text") or "") for a in answers)
    added = set(snapshot(kb_dir)) - set(files)
    assert added == {"entries/k-visa/k-visa-holder-bring-pet-zebra-china.yaml"}
    assert_all_payloads_valid(fake)


async def test_a_broken_file_elsewhere_does_not_block_the_save(
    fake_telegram: FakeTelegram, tmp_path: Path, kb_dir: Path
) -> None:
    """The loader skips an invalid file (reported by /reload and `kb lint`); the new, valid entry
    is saved beside it and answers, and the broken file is left for its owner to fix."""
    fake = fake_telegram
    async with running_bot(fake, tmp_path, VISABOT_KNOWLEDGE_DIR=kb_dir) as app:
        summary = await draft_to_preview(fake)
        broken = kb_dir / "entries" / "h1b" / "broken.yaml"
        broken.write_text("id: broken\ntopic: h1b\nquestion: [unclosed\n", encoding="utf-8")
        saved = await save(fake, summary)
        assert app.bot_data.matcher.base.get("k-visa-holder-bring-pet-zebra-china") is not None
    assert broken.read_text(encoding="utf-8").startswith("id: broken")
    assert "k-visa-holder-bring-pet-zebra-china" in saved.text
    assert_all_payloads_valid(fake)


async def test_a_second_maintainer_saving_the_same_question_is_refused_as_a_duplicate(
    fake_telegram: FakeTelegram, tmp_path: Path, kb_dir: Path
) -> None:
    """Save runs `kb lint`'s checks with the new entry included: the second copy of a question is
    a near-duplicate (and takes the first one's phrasings), an error, so nothing is written."""
    fake = fake_telegram
    files = snapshot(kb_dir)
    async with running_bot(
        fake, tmp_path, VISABOT_KNOWLEDGE_DIR=kb_dir, VISABOT_ADMIN_IDS=f"{ADMIN},{ADMIN2}"
    ) as app:
        first = await draft_to_preview(fake, ADMIN, answer="First maintainer's answer.")
        second = await draft_to_preview(fake, ADMIN2, answer="Second maintainer's answer.")
        base_id = slug_for(ZEBRA, Topic.K_VISA)
        assert base_id in first.text and base_id in second.text  # both previews expect the same id
        await save(fake, first)
        refused = await press(fake, f"ev:{nonce_of(second)}", second, ADMIN2, expect="Not saved")
        served = {e.id: e for e in app.bot_data.matcher.base.entries if e.id.startswith(base_id)}
    assert sorted(set(snapshot(kb_dir)) - set(files)) == [f"entries/k-visa/{base_id}.yaml"]
    assert "nothing was written" in refused.text and "[duplicate]" in refused.text
    assert [b["text"] for b in buttons(refused)] == ["Cancel"]  # errors cannot be saved anyway
    assert [e.answer for e in served.values()] == ["First maintainer's answer."]
    assert_all_payloads_valid(fake)


# ---------------------------------------------------------------- /edit


async def test_edit_shows_current_values_keeps_and_changes(
    fake_telegram: FakeTelegram, tmp_path: Path, kb_dir: Path
) -> None:
    fake = fake_telegram
    path = kb_dir / "entries" / "h1b" / "h1b-masters-cap.yaml"
    original, _ = parse_entry_text(path.read_text(encoding="utf-8"), path)
    assert original is not None
    new_answer = "EDITED: the master's cap adds 20,000 registrations each year."
    new_zh_answer = "已编辑：硕士名额每年增加2万个注册名额。"
    zh_before = chinese_on_disk(kb_dir, "h1b-masters-cap")
    async with running_bot(fake, tmp_path, VISABOT_KNOWLEDGE_DIR=kb_dir) as app:
        before = await send(fake, MASTERS, USER)  # rendered (and cached) before the edit
        usage = await send(fake, "/edit", ADMIN, "Usage")
        unknown = await send(fake, "/edit h1b-masters-kap", ADMIN, "No valid entry")
        first = await send(fake, "/edit h1b-masters-cap", ADMIN, "step 1 of 10")
        await send(fake, "keep", ADMIN, "step 2 of 10")
        await send(fake, "keep", ADMIN, "step 3 of 10")
        await send(fake, new_answer, ADMIN, "step 4 of 10")
        await send(fake, "keep", ADMIN, "step 5 of 10")
        topics = await send(
            fake, "done", ADMIN, "step 6 of 10"
        )  # done with no new source keeps them
        statuses = await press(
            fake, f"et:{nonce_of(topics)}:h1b", topics, ADMIN, expect="step 7 of 10"
        )
        await press(
            fake, f"es:{nonce_of(statuses)}:reported", statuses, ADMIN, expect="step 8 of 10"
        )
        await send(fake, "keep", ADMIN, "step 9 of 10")  # the English question is unchanged
        stale = await send(fake, "keep", ADMIN, "no Chinese answer to keep")  # its English changed
        await send(fake, new_zh_answer, ADMIN, "step 10 of 10")
        summary = await send(fake, "keep", ADMIN, "Preview")
        saved = await save(fake, summary, expect="Updated")
        answer = await send(fake, MASTERS, USER)
        served = app.bot_data.matcher.base.get("h1b-masters-cap")
    assert "/edit ENTRY-ID" in usage.text and "h1b-masters-cap" in unknown.text
    assert "<b>Now:</b>" in first.text and "keep" in first.text
    assert "Changes to <code>h1b-masters-cap</code>" in summary.text and ": answer" in summary.text
    assert (
        "EDITED" not in before.text and "EDITED" in answer.text and "h1b-masters-cap" in saved.text
    )
    edited, problems = parse_entry_text(path.read_text(encoding="utf-8"), path)
    assert not problems and edited == served and edited is not None
    assert edited.answer == new_answer and edited.alternates == original.alternates
    assert (edited.sources, edited.related, edited.keywords, edited.history) == (
        original.sources,
        original.related,
        original.keywords,
        original.history,
    )
    # A reworded answer is not a newer fact, and nobody said the sources were re-checked: the
    # dates users read ("As of") and the verification date stay (issue 10 point 2).
    assert (edited.as_of, edited.verified_on) == (original.as_of, original.verified_on)
    assert edited.review_after_days == original.review_after_days
    # The Chinese moved with the English: the new answer, the kept question and caveats, in step.
    zh = chinese_on_disk(kb_dir, "h1b-masters-cap")
    assert zh is not None and zh_before is not None and zh.answer == new_zh_answer
    assert (zh.question, zh.caveats) == (
        zh_before.question,
        zh_before.caveats,
    ) and zh.translates == fingerprint(edited)
    assert new_zh_answer in summary.text or any(
        new_zh_answer in (c.text or "") for c in fake.calls("sendMessage", chat_id=ADMIN)
    )
    assert "write it anew" not in stale.text and zh_before.answer not in stale.text
    assert [b["text"] for b in buttons(summary)] == [
        "✅ Save",
        "✅ Save · I re-checked every source today",
        "Cancel",
    ]
    assert_all_payloads_valid(fake)


async def test_edit_refuses_to_overwrite_a_change_made_meanwhile(
    fake_telegram: FakeTelegram, tmp_path: Path, kb_dir: Path
) -> None:
    fake = fake_telegram
    path = kb_dir / "entries" / "h1b" / "h1b-masters-cap.yaml"
    async with running_bot(fake, tmp_path, VISABOT_KNOWLEDGE_DIR=kb_dir):
        await send(fake, "/edit h1b-masters-cap", ADMIN, "step 1 of 10")
        for _ in range(2):
            await send(fake, "keep", ADMIN, "step")
        await send(fake, "My edit.", ADMIN, "step 4 of 10")
        await send(fake, "keep", ADMIN, "step 5 of 10")
        topics = await send(fake, "keep", ADMIN, "step 6 of 10")
        statuses = await press(
            fake, f"et:{nonce_of(topics)}:h1b", topics, ADMIN, expect="step 7 of 10"
        )
        await press(
            fake, f"es:{nonce_of(statuses)}:reported", statuses, ADMIN, expect="step 8 of 10"
        )
        summary = await send(fake, "later", ADMIN, "Preview")
        current, _ = parse_entry_text(path.read_text(encoding="utf-8"), path)
        assert current is not None
        theirs = current.model_copy(
            update={"alternates": [*current.alternates, "another maintainer was here"]}
        )
        update_entry(kb_dir, theirs)
        refused = await press(fake, f"ev:{nonce_of(summary)}", summary, ADMIN, expect="Not saved")
    assert "changed on disk" in refused.text
    assert parse_entry_text(path.read_text(encoding="utf-8"), path)[0] == theirs
    assert_all_payloads_valid(fake)


# ---------------------------------------------------------------- /gaps


def number_for(listing: Call, text: str) -> str:
    """The "go:" button of the /gaps line that holds `text`."""
    (line,) = [ln for ln in (listing.text or "").splitlines() if text in ln and ln[:1].isdigit()]
    number = line.split(".", 1)[0]
    (data,) = [b["callback_data"] for b in buttons(listing) if b["text"] == number]
    return str(data)


async def test_gaps_names_entries_past_their_rules_end_date_first(
    fake_telegram: FakeTelegram, tmp_path: Path, kb_dir: Path
) -> None:
    """Issue 10 point 3: /gaps lists lapsed entries before any unanswered question."""
    path = kb_dir / "entries" / "h1b" / "h1b-masters-cap.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data |= {"in_force_until": "2000-01-01", "in_force_check": "https://www.uscis.gov/h-1b"}
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    async with running_bot(fake_telegram, tmp_path, VISABOT_KNOWLEDGE_DIR=kb_dir) as app:
        lapsed = [e.id for e in app.bot_data.matcher.base.entries if e.lapsed()]
        app.bot_data.db.log_unanswered("what is the weather in beijing")
        listed = await send(fake_telegram, "/gaps", ADMIN, "Unanswered questions")
    assert "h1b-masters-cap" in lapsed  # the rule planted above ended in 2000
    head, questions = (listed.text or "").split("🕳", 1)
    assert head.startswith(f"⏳ <b>{len(lapsed)} entries past their rule's end date</b>")
    assert all(f"<code>{i}</code>" in head for i in lapsed) and "weather in beijing" in questions
    assert_valid_reply(listed.text or "")


async def test_gaps_add_attach_and_dismiss(
    fake_telegram: FakeTelegram, tmp_path: Path, kb_dir: Path
) -> None:
    fake = fake_telegram
    goldfish = "can my goldfish come along on an h1b"
    long_question = "zebra " * 83  # ~500 characters: buttons still carry only short keys
    edited = "editMessageText"
    async with running_bot(fake, tmp_path, VISABOT_KNOWLEDGE_DIR=kb_dir) as app:
        db = app.bot_data.db
        for _ in range(3):
            db.log_unanswered("what is the weather in beijing")
        db.log_unanswered(long_question)
        await send(fake, goldfish, USER, "passed to the maintainers")  # a real decline is logged
        empty_before = len(db.gaps())
        listed = await send(fake, "/gaps", ADMIN, "Unanswered questions")
        # Dismiss: open the group, then dismiss it; the list comes back in the same message.
        weather = await press(
            fake,
            number_for(listed, "weather in beijing"),
            listed,
            ADMIN,
            expect="last asked",
            method=edited,
        )
        token = str(buttons(weather)[2]["callback_data"]).removeprefix("gx:")
        dismissed = await press(
            fake, f"gx:{token}", listed, ADMIN, expect="Dismissed", method=edited
        )
        before = seen(fake)
        again = await press(
            fake, f"gx:{token}", listed, ADMIN
        )  # a stale button: the list is shown again
        relisted = await new_call(fake, before, edited, ADMIN, "Unanswered questions")
        # Attach: the top matches as buttons, then one of them.
        gold = await press(
            fake, number_for(relisted, goldfish), listed, ADMIN, expect="last asked", method=edited
        )
        picks = await press(
            fake,
            buttons(gold)[1]["callback_data"],
            listed,
            ADMIN,
            expect="Attach it",
            method=edited,
        )
        choices = [b["callback_data"] for b in buttons(picks)]
        back = await press(fake, choices[-1], listed, ADMIN, expect=goldfish, method=edited)
        target = str(choices[0]).rsplit(":", 1)[1]
        attached = await press(fake, choices[0], listed, ADMIN, expect="Attached", method=edited)
        served = app.bot_data.matcher.base.get(target)
        # Add entry: the question is the first alternate; saving removes it from the list.
        long_gap = await press(
            fake,
            number_for(attached, "zebra zebra"),
            listed,
            ADMIN,
            expect="last asked",
            method=edited,
        )
        first = await press(
            fake, buttons(long_gap)[0]["callback_data"], listed, ADMIN, expect="step 1 of 10"
        )
        await send(fake, ZEBRA, ADMIN, "step 2 of 10")
        await send(fake, "\n".join([*ZEBRA_ALTERNATES, "done"]), ADMIN, "step 3 of 10")
        await send(fake, ZEBRA_ANSWER, ADMIN, "step 4 of 10")
        await send(fake, "none", ADMIN, "step 5 of 10")
        topics = await send(fake, ZEBRA_SOURCE + "\ndone", ADMIN, "step 6 of 10")
        statuses = await press(
            fake, f"et:{nonce_of(topics)}:k-visa", topics, ADMIN, expect="step 7 of 10"
        )
        await press(
            fake, f"es:{nonce_of(statuses)}:pending", statuses, ADMIN, expect="step 8 of 10"
        )
        summary = await chinese_to_preview(fake)
        await save(fake, summary)
        remaining = db.gaps()
        entry = app.bot_data.matcher.base.get("k-visa-holder-bring-pet-zebra-china")
        none_left = await send(fake, "/gaps", ADMIN, "No unanswered")
    assert empty_before == 3
    assert "<b>3×</b> what is the weather in beijing" in (listed.text or "")
    long_line = next(ln for ln in (listed.text or "").splitlines() if "zebra" in ln)
    assert long_line.endswith("zebra…") and len(long_line) < 160  # cut at a word
    assert (weather.text or "").startswith("<b>3×</b> · last asked ") and "weather in beijing" in (
        weather.text or ""
    )
    group_buttons = ["➕ Add entry", "📎 Attach", "✖ Dismiss", "⬅ List"]
    assert [b["text"] for b in buttons(weather)] == group_buttons
    assert (
        "Dismissed" in (dismissed.text or "")
        and "weather in beijing" not in (dismissed.text or "").split("\n\n", 1)[1]
    )
    assert "no longer in the list" in again.params["text"] and "weather" not in (
        relisted.text or ""
    )
    assert goldfish in (gold.text or "")
    assert all(str(c).startswith("gt:") for c in choices[:-2]) and len(choices) >= 3
    assert [str(c)[:3] for c in choices[-2:]] == ["gs:", "gb:"]
    assert [b["text"] for b in buttons(back)] == group_buttons
    assert served is not None and served.alternates[-1] == goldfish
    on_disk = next((kb_dir / "entries").glob(f"*/{target}.yaml"))
    assert goldfish in yaml.safe_load(on_disk.read_text(encoding="utf-8"))["alternates"]
    assert f"<code>{target}</code>" in (attached.text or "") and goldfish not in (
        attached.text or ""
    )
    assert "already its first alternate" in first.text
    assert (
        entry is not None
        and entry.alternates[0] == long_question.strip()
        and entry.review_after_days == 14
    )
    assert remaining == [] and "No unanswered" in none_left.text
    assert_all_payloads_valid(fake)


async def test_gaps_groups_near_duplicates_hides_answered_pages_and_searches(
    fake_telegram: FakeTelegram, tmp_path: Path, kb_dir: Path
) -> None:
    fake = fake_telegram
    chennai = "how long is the wait for h1b stamping in chennai"
    chennai_too = "chennai h1b stamping wait time"
    others = [
        "best hotpot in chengdu",
        "is tokyo cheaper than seoul",
        "how to learn piano fast",
        "my cat is sick",
        "football scores today",
        "price of bitcoin",
    ]
    edited = "editMessageText"
    async with running_bot(fake, tmp_path, VISABOT_KNOWLEDGE_DIR=kb_dir) as app:
        db = app.bot_data.db
        for text in [chennai, chennai, chennai_too, MASTERS, *others]:
            db.log_unanswered(text)
        listed = await send(fake, "/gaps", ADMIN, "Unanswered questions")
        page2 = await press(fake, "gp:1", listed, ADMIN, expect="page 2 of 2", method=edited)
        page1 = await press(fake, "gp:0", listed, ADMIN, expect="page 1 of 2", method=edited)
        group = await press(
            fake, number_for(page1, "chennai"), listed, ADMIN, expect="Also asked as", method=edited
        )
        picks = await press(
            fake, buttons(group)[1]["callback_data"], listed, ADMIN, expect="ttach", method=edited
        )
        search = next(
            b["callback_data"] for b in buttons(picks) if str(b["callback_data"]).startswith("gs:")
        )
        await press(fake, search, listed, ADMIN, expect="Send words")
        found = await send(fake, "masters cap", ADMIN, "Attach it")
        pick = next(
            b["callback_data"]
            for b in buttons(found)
            if str(b["callback_data"]).endswith(":h1b-masters-cap")
        )
        attached = await press(fake, pick, found, ADMIN, expect="Attached", method=edited)
        entry = app.bot_data.matcher.base.get("h1b-masters-cap")
        left = [g["text"] for g in db.gaps()]
    text = listed.text or ""
    assert f"<b>3×</b> {chennai} <i>(+1 similar)</i>" in text and chennai_too not in text
    assert (
        "1 more are hidden: an entry answers them now" in text
        and MASTERS.lower() not in text.lower()
    )
    assert "page 1 of 2" in text and [b["text"] for b in buttons(listed)] == [
        "1",
        "2",
        "3",
        "4",
        "5",
        "▶",
    ]
    assert [b["text"] for b in buttons(page2)] == ["6", "7", "◀"]
    assert f"• {chennai_too} (1×)" in (group.text or "")
    assert "Attached</b> 2 question(s)" in (attached.text or "")
    assert entry is not None and entry.alternates[-2:] == [chennai, chennai_too]
    assert (
        chennai not in left and chennai_too not in left and MASTERS in left
    )  # hidden, not deleted
    assert_all_payloads_valid(fake)


async def test_edit_finds_the_entry_by_words_and_only_adds_alternates(
    fake_telegram: FakeTelegram, tmp_path: Path, kb_dir: Path
) -> None:
    fake = fake_telegram
    path = kb_dir / "entries" / "h1b" / "h1b-masters-cap.yaml"
    path.write_text(
        "# Checked by hand against the USCIS cap page.\n" + path.read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    before = path.read_text(encoding="utf-8").splitlines()
    async with running_bot(fake, tmp_path, VISABOT_KNOWLEDGE_DIR=kb_dir) as app:
        original = app.bot_data.matcher.base.get("h1b-masters-cap")
        found = await send(fake, "/edit masters cap", ADMIN, "Which entry?")
        first = await press(fake, "ee:h1b-masters-cap", found, ADMIN, expect="step 1 of 10")
        step = await press(fake, f"ea:{nonce_of(first)}", first, ADMIN, expect="add alternates")
        got = await send(fake, "masters cap lottery odds", ADMIN, "Got 1")
        summary = await send(fake, "done", ADMIN, "Preview")
        await save(fake, summary, expect="Updated", rechecked=True)
        edited = app.bot_data.matcher.base.get("h1b-masters-cap")
    assert original is not None and edited is not None
    assert "h1b-masters-cap" in [
        str(b["callback_data"]).removeprefix("ee:") for b in buttons(found)
    ]
    assert [b["text"] for b in buttons(first)] == ["➕ Only add alternates"]
    assert f"Already in ({len(original.alternates)})" in (step.text or "") and "1 new in all" in (
        got.text or ""
    )
    assert "Changes to <code>h1b-masters-cap</code>" in (summary.text or "") and "alternates" in (
        summary.text or ""
    )
    assert edited.alternates == [*original.alternates, "masters cap lottery odds"]
    assert edited.model_dump(exclude={"alternates", "verified_on"}) == original.model_dump(
        exclude={"alternates", "verified_on"}
    )
    # The maintainer re-checked every source, so verified_on is today; as_of stays (same sources).
    assert edited.verified_on == dt.date.today() and edited.as_of == original.as_of
    # Written back round-trip: the diff is the new alternate and the verification date, nothing else.
    after = path.read_text(encoding="utf-8").splitlines()
    changed = [d for d in difflib.ndiff(before, after) if d[:1] in "+-"]
    assert changed == [
        "+   - masters cap lottery odds",
        f"- verified_on: {original.verified_on.isoformat()}",
        f"+ verified_on: {edited.verified_on.isoformat()}",
    ]
    assert after[0] == "# Checked by hand against the USCIS cap page."
    assert_all_payloads_valid(fake)


# ---------------------------------------------------------------- /feedback and /reload


async def test_feedback_lists_downvoted_answers_with_their_questions(
    fake_telegram: FakeTelegram, tmp_path: Path, kb_dir: Path
) -> None:
    fake = fake_telegram
    async with running_bot(fake, tmp_path, VISABOT_KNOWLEDGE_DIR=kb_dir) as app:
        nothing = await send(fake, "/feedback", ADMIN, "No 👎")
        answer = await send(
            fake, "how many extra h1b visas for a master's <degree> holders?", USER, "20,000"
        )
        # The bot notes which question led to an answer right after sending it: wait for that.
        key = (USER, answer.result["message_id"])
        while key not in app.bot_data.recent_questions:
            await asyncio.sleep(0.01)
        await press(fake, "v:h1b-masters-cap:0", answer, USER)
        await send(fake, "/feedback", ADMIN, "most 👎")
        (report,) = await fake.wait_for(
            "sendMessage", chat_id=ADMIN, predicate=lambda c: bool(buttons(c))
        )
        edit = await press(
            fake,
            buttons(report)[0]["callback_data"],
            report,
            ADMIN,
            expect="Editing h1b-masters-cap",
        )
    assert "No 👎" in nothing.text
    assert report.text.startswith("👎 1 · 👍 0 · <code>h1b-masters-cap</code>")
    assert html.escape("how many extra h1b visas for a master's <degree> holders?") in report.text
    assert (
        buttons(report)[0]["callback_data"] == "fe:h1b-masters-cap" and "step 1 of 10" in edit.text
    )
    assert_all_payloads_valid(fake)


async def test_reload_reports_count_and_skips_invalid_files(
    fake_telegram: FakeTelegram, tmp_path: Path, kb_dir: Path
) -> None:
    fake = fake_telegram
    count = len(snapshot(kb_dir))
    async with running_bot(fake, tmp_path, VISABOT_KNOWLEDGE_DIR=kb_dir):
        ok = await send(fake, "/reload", ADMIN, "Reloaded")
        broken = kb_dir / "entries" / "h1b" / "h1b-masters-cap.yaml"
        good_text = broken.read_text(encoding="utf-8")
        broken.write_text(
            good_text.replace("status: reported", "status: rumoured"), encoding="utf-8"
        )
        (kb_dir / "entries" / "h1b" / "junk.yaml").write_text("- not a mapping\n", encoding="utf-8")
        skipped = await send(fake, "/reload", ADMIN, "Reloaded")
        still = await send(
            fake, "How much is the H-1B $100,000 fee?", USER
        )  # every valid entry serves
        broken.write_text(good_text, encoding="utf-8")
        (kb_dir / "entries" / "h1b" / "junk.yaml").unlink()
        data = yaml.safe_load(good_text)
        data.update(
            id="h1b-zebra-cap",
            question="Is there an H-1B cap for zebra keepers?",
            related=[],
            alternates=["zebra keeper h1b cap", "h1b cap zebra keepers", "zebra keepers h1b quota"],
        )
        (kb_dir / "entries" / "h1b" / "h1b-zebra-cap.yaml").write_text(
            yaml.safe_dump(data), encoding="utf-8"
        )
        again = await send(fake, "/reload", ADMIN, "Reloaded")
        new = await send(fake, "Is there an H-1B cap for zebra keepers?", USER)
    assert f"Reloaded: {count} entries" in ok.text
    assert f"Reloaded: {count - 1} entries" in skipped.text and "were left out" in skipped.text
    assert "h1b-masters-cap.yaml" in skipped.text and "junk.yaml" in skipped.text
    assert "100,000" in still.text
    assert f"Reloaded: {count + 1} entries" in again.text and "zebra keepers" in new.text
    assert_all_payloads_valid(fake)


# ---------------------------------------------------------------- refusals


async def test_non_admins_are_refused_logged_and_nothing_changes(
    fake_telegram: FakeTelegram, tmp_path: Path, kb_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    fake = fake_telegram
    files = snapshot(kb_dir)
    async with running_bot(fake, tmp_path, VISABOT_KNOWLEDGE_DIR=kb_dir) as app:
        app.bot_data.db.log_unanswered("what is the weather in beijing")
        (gap,) = app.bot_data.db.gaps()
        token = gap_token(gap)
        commands = ["/add", "/edit h1b-masters-cap", "/gaps", "/feedback", "/reload"]
        replies = [await send(fake, c, USER) for c in commands]
        buttons_pressed = [
            "et:abcd:h1b",
            "es:abcd:official",
            "ev:abcd",
            "ex:abcd",
            f"gn:{token}",
            f"ga:{token}",
            f"gt:{token}:h1b-masters-cap",
            f"gx:{token}",
            f"gb:{token}",
            "fe:h1b-masters-cap",
        ]
        alerts = [await press(fake, data, None, USER) for data in buttons_pressed]
        # Text from a non-admin is always a question, never draft input.
        answer = await send(fake, MASTERS, USER)
        gaps_after = app.bot_data.db.gaps()
    assert all(r.text.startswith("⛔ Not allowed") for r in replies)
    assert all("Not allowed" in a.params["text"] and a.params.get("show_alert") for a in alerts)
    refusals = [
        r.getMessage() for r in caplog.records if "non-admin user 1001 tried" in r.getMessage()
    ]
    assert len(refusals) == len(commands) + len(buttons_pressed)
    assert "20,000" in answer.text
    assert snapshot(kb_dir) == files and [g["text"] for g in gaps_after] == [
        "what is the weather in beijing"
    ]
    assert_all_payloads_valid(fake)


# ---------------------------------------------------------------- privacy


async def test_forget_deletes_votes_subscriptions_and_drafts(
    fake_telegram: FakeTelegram, tmp_path: Path, kb_dir: Path
) -> None:
    fake = fake_telegram
    async with running_bot(fake, tmp_path, VISABOT_KNOWLEDGE_DIR=kb_dir) as app:
        data = app.bot_data
        data.subscriptions.subscribe(USER, ["h1b", "k-visa"])
        data.subscriptions.subscribe(DEFAULT_GROUP_ID, ["h1b"])
        answer = await send(fake, MASTERS, USER, "20,000")
        await press(fake, "v:h1b-masters-cap:0", answer, USER)
        assert data.db.votes("h1b-masters-cap") == (0, 1)
        # In a group /forget deletes nothing (the group's subscriptions are the group's).
        before = seen(fake)
        fake.push_update(make_command("/forget", user_id=USER, chat_id=DEFAULT_GROUP_ID))
        in_group = await new_call(fake, before, "sendMessage", DEFAULT_GROUP_ID, "private chat")
        forgot = await send(fake, "/forget", USER, "Done")
        voted_again = await press(fake, "v:h1b-masters-cap:1", answer, USER)
        # A maintainer's unfinished draft goes too.
        await send(fake, "/add", ADMIN, "step 1 of 10")
        admin_forgot = await send(fake, "/forget", ADMIN, "Done")
        question = await send(fake, MASTERS, ADMIN)
        nothing = await send(fake, "/forget", ADMIN, "Done")
        votes = data.db.votes("h1b-masters-cap")
        mine, group = (
            data.subscriptions.topics_of(USER),
            data.subscriptions.topics_of(DEFAULT_GROUP_ID),
        )
    assert (
        "deleted everything" in forgot.text
        and "• 1 vote" in forgot.text
        and "• 2 subscriptions" in forgot.text
    )
    assert mine == [] and group == ["h1b"] and "/forget" in in_group.text
    # The in-memory record of who rated it is gone, so the same answer can be rated again; the
    # tallies are anonymous (nothing links the earlier 👎 to this user), so both votes count.
    assert "Thanks" in voted_again.params["text"] and votes == (1, 1)
    assert "1 unfinished draft" in admin_forgot.text and "20,000" in question.text
    assert "nothing stored" in nothing.text
    assert_all_payloads_valid(fake)


async def test_privacy_says_what_is_stored(fake_telegram: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(fake_telegram, tmp_path, VISABOT_LOG_USER_TEXT="true"):
        private = await send(fake_telegram, "/privacy", USER, "What visabot stores")
        before = seen(fake_telegram)
        fake_telegram.push_update(make_command("/privacy", user_id=USER, chat_id=DEFAULT_GROUP_ID))
        group = await new_call(
            fake_telegram, before, "sendMessage", DEFAULT_GROUP_ID, "What visabot stores"
        )
    for needle in (
        "chat id",
        "tally per answer",
        "never on disk",
        "without any user or chat id",
        "never hold the bot token",
        "VISABOT_LOG_USER_TEXT",
        "here: <b>on</b>",
        "/forget",
    ):
        assert needle in private.text
    assert group.text == private.text
    assert_all_payloads_valid(fake_telegram)


@pytest.mark.parametrize("log_user_text", [False, True])
async def test_user_text_reaches_logs_only_when_configured(
    fake_telegram: FakeTelegram,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    log_user_text: bool,
) -> None:
    caplog.set_level(
        logging.WARNING, logger="httpx"
    )  # as bot.logs.configure_logging: URLs hold the token
    caplog.set_level(logging.INFO)  # after: this also lowers the capture handler's level again
    secret = "what is the weather in beijing for my secret-project"
    async with running_bot(
        fake_telegram, tmp_path, VISABOT_LOG_USER_TEXT=str(log_user_text).lower()
    ) as app:
        await send(fake_telegram, secret, USER)
        (gap,) = app.bot_data.db.gaps()
        listed = await send(fake_telegram, "/gaps", ADMIN, "secret-project")
        group = await press(
            fake_telegram,
            buttons(listed)[0]["callback_data"],
            listed,
            ADMIN,
            expect="last asked",
            method="editMessageText",
        )
        await press(
            fake_telegram,
            buttons(group)[2]["callback_data"],
            listed,
            ADMIN,
            expect="Dismissed",
            method="editMessageText",
        )
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "dismissed unanswered question" in logged and TOKEN not in logged
    assert ("secret-project" in logged) is log_user_text
    assert gap["count"] == 1
