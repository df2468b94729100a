"""The answer renderer's cache: it must never serve an out-of-date rendering."""

from __future__ import annotations

import datetime as dt

from bot.replies.telegram_view import entry_messages
from knowledge.loader import KnowledgeBase


def test_rendering_is_reused_only_for_the_same_entry_and_day(shipped_kb: KnowledgeBase) -> None:
    entry = shipped_kb.get("h1b-masters-cap")
    assert entry is not None
    fresh_day = entry.as_of
    first = entry_messages(entry, fresh_day)
    assert entry_messages(entry, fresh_day) == first
    assert "due for re-checking" not in "".join(first)

    overdue_day = entry.review_due + dt.timedelta(days=1)
    assert "due for re-checking" in "".join(entry_messages(entry, overdue_day))

    edited = entry.model_copy(update={"answer": "A corrected answer."})
    assert "A corrected answer." in "".join(entry_messages(edited, fresh_day))
    assert "A corrected answer." not in "".join(entry_messages(entry, fresh_day))
