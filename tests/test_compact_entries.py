"""The compact entry store gives back exactly the entries it was given, in order and by id."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

import pytest

from knowledge import compact_entries
from knowledge.compact_entries import EntryStore
from knowledge.loader import KnowledgeBase
from knowledge.model import Entry


def test_every_entry_decodes_to_what_was_stored(
    shipped_kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compact_entries, "DECODED_CACHE_SIZE", 1)  # so nearly every read decodes
    originals = list(shipped_kb.entries)
    entries = EntryStore(originals)
    assert list(entries) == originals
    assert [entries.get(e.id) for e in originals] == originals
    assert entries[-1] == originals[-1] and entries[2:5] == originals[2:5]
    assert entries[0] is not originals[0]  # decoded afresh, yet equal


def test_a_small_base_keeps_its_entry_objects(shipped_kb: KnowledgeBase) -> None:
    """The renderer caches by entry identity: reading an entry twice gives the same object."""
    entry = shipped_kb.get("h1b-masters-cap")
    assert entry is not None and shipped_kb.get("h1b-masters-cap") is entry
    assert shipped_kb.entries[shipped_kb.entries.index(entry)] is entry


def test_lookup_by_id(shipped_kb: KnowledgeBase) -> None:
    ids = [e.id for e in shipped_kb.entries]
    assert list(shipped_kb.by_id) == ids and len(shipped_kb.by_id) == len(ids)
    assert "k-visa-age-limit" in shipped_kb.by_id and "no-such-entry" not in shipped_kb.by_id
    assert shipped_kb.by_id["k-visa-age-limit"].id == "k-visa-age-limit"
    assert shipped_kb.get("no-such-entry") is None
    with pytest.raises(KeyError):
        shipped_kb.by_id["no-such-entry"]
    with pytest.raises(IndexError):
        shipped_kb.entries[len(ids)]
    with pytest.raises(IndexError):
        shipped_kb.entries[-len(ids) - 1]


def test_duplicate_ids_are_refused(shipped_kb: KnowledgeBase) -> None:
    entry = shipped_kb.entries[0]
    with pytest.raises(ValueError, match="duplicate entry id"):
        EntryStore([entry, entry])


def _retained(build: Callable[[], object]) -> int:
    """Bytes still allocated once `build()` has returned, while its result is alive."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = build()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    del kept
    return held


def test_entries_are_stored_compressed(
    shipped_kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Measured from the outside: a store holds a fraction of what the entries as objects do."""
    monkeypatch.setattr(compact_entries, "DECODED_CACHE_SIZE", 1)  # a large base: few entries kept decoded
    as_json = [e.model_dump_json() for e in shipped_kb.entries]
    # Fill the parsers' own global caches (pydantic-core's JSON strings, urllib's splits) first:
    # what they keep belongs to neither side.
    [Entry.model_validate_json(text) for text in as_json]
    as_objects = _retained(lambda: [Entry.model_validate_json(text) for text in as_json])
    in_store = _retained(lambda: EntryStore(Entry.model_validate_json(text) for text in as_json))
    assert in_store < as_objects / 3, (in_store, as_objects)
