"""Writable copies of the shipped knowledge folder, for tests that change entries or plant problems.

A full copy is for tests whose point is the whole base (the shipped entries lint clean). A test
that checks how lint or the loader REPORTS one planted problem uses a copy of a few entries:
`kb lint` asks the matcher every phrasing of every entry (3,000+ and growing, a few seconds per
run, twice that under coverage), and what such a test checks does not depend on how many there are.
"""

from __future__ import annotations

import shutil
from collections.abc import Collection
from pathlib import Path

from knowledge import DEFAULT_KNOWLEDGE_DIR
from knowledge.bilingual import ZH_DIRNAME
from knowledge.loader import ENTRIES_DIRNAME, SYNONYMS_FILENAME
from knowledge.writer import entry_to_yaml
from tests.bot_harness import shipped_matcher

# Entries the reporting tests plant their problems in (h1b-cap gains h1b-100k-one-time's question
# as a conflict; k-visa-fees goes stale), with two more of each visa as neighbours.
FEW_ENTRIES = (
    "h1b-cap",
    "h1b-100k-one-time",
    "h1b-masters-cap",
    "h1b-100k-who-pays",
    "k-visa-fees",
    "k-visa-age-limit",
    "k-visa-what-is-it",
)


def copy_knowledge(root: Path, entry_ids: Collection[str] | None = None) -> Path:
    """Copy the shipped entries, their Chinese and the synonyms into ``root`` (all entries, or
    only ``entry_ids``, their related ids kept within the copy so it loads cleanly)."""
    source = DEFAULT_KNOWLEDGE_DIR
    if entry_ids is None:
        shutil.copytree(source / ENTRIES_DIRNAME, root / ENTRIES_DIRNAME)
        shutil.copytree(source / ZH_DIRNAME, root / ZH_DIRNAME)
    else:
        shipped = shipped_matcher().base
        (root / ZH_DIRNAME).mkdir(parents=True)
        for entry_id in entry_ids:
            entry = shipped.by_id[entry_id]
            related = [r for r in entry.related if r in entry_ids]
            path = root / ENTRIES_DIRNAME / entry.topic.value / f"{entry_id}.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(
                entry_to_yaml(entry.model_copy(update={"related": related})), encoding="utf-8"
            )
            shutil.copy(source / ZH_DIRNAME / f"{entry_id}.yaml", root / ZH_DIRNAME)
    shutil.copy(source / SYNONYMS_FILENAME, root / SYNONYMS_FILENAME)
    return root
