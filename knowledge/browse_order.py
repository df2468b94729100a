"""The order /topics shows a topic's questions in: most asked first, then a curated order.

Alphabetical order put the $100,000 questions on pages 2–3 of 7. Live ask counts know best what
people want, but a fresh bot has none, so knowledge/browse_order.yaml gives the order to start from.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path

import yaml

from knowledge import DEFAULT_KNOWLEDGE_DIR
from knowledge.model import Entry

ORDER_FILE = DEFAULT_KNOWLEDGE_DIR / "browse_order.yaml"


@cache
def curated_order(path: Path = ORDER_FILE) -> dict[str, tuple[str, ...]]:
    """Topic → ids to list first. A missing file means no curation (alphabetical)."""
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(topic): tuple(ids or ()) for topic, ids in data.items()}


def browse_sorted(
    entries: Iterable[Entry], curated: Sequence[str], most_asked: Sequence[str]
) -> list[Entry]:
    """Entries asked more often first, then the curated ones in their order, then alphabetically."""
    asked_rank = {entry_id: rank for rank, entry_id in enumerate(most_asked)}
    curated_rank = {entry_id: rank for rank, entry_id in enumerate(curated)}
    never = len(asked_rank) + len(curated_rank)

    def key(entry: Entry) -> tuple[int, int, str]:
        return (
            asked_rank.get(entry.id, never),
            curated_rank.get(entry.id, never),
            entry.question.lower(),
        )

    return sorted(entries, key=key)
