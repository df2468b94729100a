"""Shared pytest fixtures."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from knowledge import DEFAULT_KNOWLEDGE_DIR
from knowledge.loader import KnowledgeBase, load_knowledge_base
from knowledge.matcher import Matcher
from tests.fake_telegram import FakeTelegram


@pytest.fixture(autouse=True)
def _timedelta_durations(monkeypatch: pytest.MonkeyPatch) -> None:
    """As `visabot` sets it: PTB 22 otherwise warns (an error here) whenever a 429 is parsed."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture(scope="session")
def shipped_kb() -> KnowledgeBase:
    """The knowledge base shipped in the package, loaded once per session."""
    return load_knowledge_base(DEFAULT_KNOWLEDGE_DIR)


@pytest.fixture(scope="session")
def matcher(shipped_kb: KnowledgeBase) -> Matcher:
    return Matcher(shipped_kb)


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    """A running fake Bot API server; fails the test at teardown if the bot called a method the
    fake does not support (set ``fake_telegram.allow_unknown = True`` to opt out)."""
    with FakeTelegram() as fake:
        yield fake
        if not fake.allow_unknown:
            fake.assert_no_unknown_calls()


@pytest.fixture
def kb_dir(tmp_path: Path) -> Path:
    """A writable copy of the shipped entries and synonyms, for tests that add or remove entries."""
    root = tmp_path / "kb"
    shutil.copytree(DEFAULT_KNOWLEDGE_DIR / "entries", root / "entries")
    shutil.copy(DEFAULT_KNOWLEDGE_DIR / "synonyms.yaml", root / "synonyms.yaml")
    return root
