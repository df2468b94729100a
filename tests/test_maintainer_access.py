"""Issue 14.3: one draft slot per maintainer (bot/runtime/drafts.py) and maintainer handlers guarded where
they are defined (bot/runtime/access.py), end to end through the fake Bot API."""

from __future__ import annotations

from pathlib import Path

from bot.runtime import drafts
from handlers.admin import Draft
from handlers.entry_steps import EntryDraft
from tests.bot_harness import running_bot
from tests.fake_telegram import (
    DEFAULT_GROUP_ID,
    DEFAULT_USER_ID,
    FakeTelegram,
    make_callback_query,
    make_command,
)
from tests.test_telegram_maintainers import ADMIN, ZEBRA, send


async def test_one_draft_at_a_time_whatever_its_kind(
    fake_telegram: FakeTelegram, tmp_path: Path, kb_dir: Path
) -> None:
    fake = fake_telegram
    async with running_bot(fake, tmp_path, VISABOT_KNOWLEDGE_DIR=kb_dir) as app:
        user_data = app.user_data[ADMIN]
        await send(fake, "/add", ADMIN, "step 1 of 10")
        await send(fake, ZEBRA, ADMIN, "step 2 of 10")
        entry_draft = dict(user_data)
        await send(fake, "/broadcast", ADMIN, "New broadcast")
        broadcast_draft = dict(user_data)
        # The entry draft is gone: this text is a question now, not its alternates.
        await send(fake, "what is the h1b master's cap", ADMIN, "20,000")
        again = await send(fake, "/add", ADMIN, "step 1 of 10")
        cancelled = await send(fake, "/cancel", ADMIN, "Cancelled")
        after = dict(user_data)
    assert list(entry_draft) == [drafts.DRAFT_KEY] and isinstance(
        entry_draft[drafts.DRAFT_KEY], EntryDraft
    )
    assert list(broadcast_draft) == [drafts.DRAFT_KEY] and isinstance(
        broadcast_draft[drafts.DRAFT_KEY], Draft
    )
    assert again.text.startswith("(Your unfinished draft was discarded.)")
    assert "nothing was saved" in cancelled.text and after == {}


async def test_maintainer_buttons_and_commands_refuse_others_and_groups(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    fake = fake_telegram
    async with running_bot(fake, tmp_path):
        fake.push_update(
            make_callback_query("bt:h1b", user_id=DEFAULT_USER_ID)
        )  # a forged broadcast button
        (forged,) = await fake.wait_for("answerCallbackQuery")
        fake.push_update(make_command("/gaps", user_id=DEFAULT_USER_ID, chat_id=DEFAULT_GROUP_ID))
        fake.push_update(make_command("/gaps", user_id=ADMIN, chat_id=DEFAULT_GROUP_ID))
        replies = await fake.wait_for("sendMessage", chat_id=DEFAULT_GROUP_ID, count=2)
    assert forged.params["text"].startswith("⛔ Not allowed") and forged.params.get("show_alert")
    by_user = {int(c.params["reply_parameters"]["message_id"]): c.text or "" for c in replies}
    refused, hint = (
        by_user[m] for m in sorted(by_user)
    )  # replies to the non-admin's, then the admin's
    assert refused.startswith("⛔ Not allowed") and "only in a private chat" in hint
