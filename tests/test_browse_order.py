"""The /topics order (most asked, then curated, then alphabetical) and button labels cut at a word."""

from __future__ import annotations

from bot.replies.telegram_view import shorten
from knowledge.browse_order import browse_sorted, curated_order
from knowledge.loader import KnowledgeBase
from knowledge.model import Entry, Topic


def _ids(entries: list[Entry]) -> list[str]:
    return [e.id for e in entries]


def test_asked_entries_first_then_curated_then_alphabetical(shipped_kb: KnowledgeBase) -> None:
    h1b = [e for e in shipped_kb.entries if e.topic is Topic.H1B]
    curated = curated_order()["h1b"]
    ordered = _ids(browse_sorted(h1b, curated, most_asked=[]))
    assert ordered[: len(curated)] == list(curated)
    rest = [e for e in h1b if e.id not in curated]
    assert ordered[len(curated) :] == _ids(sorted(rest, key=lambda e: e.question.lower()))

    asked = ["h1b-grace-period", "h1b-cap"]  # most asked first, as Storage.most_asked returns them
    assert _ids(browse_sorted(h1b, curated, asked))[:3] == ["h1b-grace-period", "h1b-cap", curated[0]]


def test_every_curated_id_exists_in_its_topic(shipped_kb: KnowledgeBase) -> None:
    by_id = {e.id: e for e in shipped_kb.entries}
    for topic, ids in curated_order().items():
        assert len(set(ids)) == len(ids), topic
        for entry_id in ids:
            assert by_id[entry_id].topic.value == topic


def test_shorten_cuts_at_a_word_boundary() -> None:
    text = "Can I leave the US and come back without the $100,000 payment being charged?"
    label = shorten(text, 60)
    assert len(label) <= 60 and label.endswith("…")
    assert text.startswith(label[:-1]) and text[len(label) - 1] == " "  # the cut falls before a space
    assert shorten("short question?", 60) == "short question?"
    assert shorten("x" * 100, 10) == "x" * 9 + "…"  # one over-long word is still cut
