"""Dates are promises (issue 10 point 2): `as_of` is the newest source's date and moves only when
the sources do; `verified_on` moves only when a maintainer says every source was re-checked.
Both authoring paths (`kb add`, Telegram's /add and /edit) build entries with this one function."""

from __future__ import annotations

import datetime as dt

from knowledge.authoring import EntryFields, build_entry, newest_source_date
from knowledge.loader import KnowledgeBase

TODAY = dt.date(2026, 12, 4)


def test_a_new_entry_is_as_of_its_newest_source_and_verified_today(
    shipped_kb: KnowledgeBase,
) -> None:
    template = shipped_kb.by_id["h1b-100k-who-pays"]
    fields = EntryFields.of(template)
    entry = build_entry(fields, "a-new-one", TODAY)
    assert entry.as_of == newest_source_date(template.sources) and entry.as_of < TODAY
    assert entry.verified_on == TODAY


def test_editing_the_answer_moves_neither_date(shipped_kb: KnowledgeBase) -> None:
    original = shipped_kb.by_id["h1b-100k-who-pays"]
    fields = EntryFields.of(original)
    fields.answer = original.answer + " Reworded."
    edited = build_entry(fields, original.id, TODAY, original)
    assert (edited.as_of, edited.verified_on) == (original.as_of, original.verified_on)


def test_only_a_declared_re_check_moves_verified_on(shipped_kb: KnowledgeBase) -> None:
    original = shipped_kb.by_id["h1b-100k-who-pays"]
    fields = EntryFields.of(original)
    fields.reverified = True
    edited = build_entry(fields, original.id, TODAY, original)
    assert edited.verified_on == TODAY and edited.as_of == original.as_of


def test_a_newer_source_moves_as_of_to_its_date(shipped_kb: KnowledgeBase) -> None:
    original = shipped_kb.by_id["h1b-100k-who-pays"]
    fields = EntryFields.of(original)
    newer = original.sources[0].model_copy(
        update={"date": dt.date(2026, 11, 30), "url": original.sources[0].url + "#newer"}
    )
    fields.sources = [*fields.sources, newer]
    edited = build_entry(fields, original.id, TODAY, original)
    assert edited.as_of == dt.date(2026, 11, 30)
    assert edited.verified_on == dt.date(
        2026, 11, 30
    )  # the new source was read; the others not re-checked
