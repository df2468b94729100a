"""Write entries to disk in the standard format, safely.

Used by `visabot kb add`, Telegram's /add and /edit. Every write happens under an exclusive file
lock on the knowledge folder, lands atomically (temporary file, fsync, rename), and is followed by
a full validation of the knowledge base; if that fails, the write is undone. So two maintainers
adding at once can neither overwrite each other nor create the same id twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from knowledge.loader import (
    ENTRIES_DIRNAME,
    KnowledgeBase,
    KnowledgeError,
    Problem,
    load_knowledge_base,
)
from knowledge.model import Entry

LOCK_NAME = ".write.lock"
OPTIONAL_EMPTY = ("keywords", "history", "related")


class EntryExists(Exception):
    """An entry with this id already exists (ids are unique across topics)."""


class _Dumper(yaml.SafeDumper):
    """Block lists indented under their key, as in the shipped files."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
        return super().increase_indent(flow, False)


def entry_to_yaml(entry: Entry) -> str:
    data = entry.model_dump(mode="json")
    for source in [*data["sources"], *(h["source"] for h in data["history"])]:
        if not source.get("approximate"):
            source.pop("approximate", None)
    for name in OPTIONAL_EMPTY:
        if not data[name] and name != "related":
            data.pop(name)
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOCK_NAME, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def entry_path(root: Path, entry: Entry) -> Path:
    return root / ENTRIES_DIRNAME / entry.topic.value / f"{entry.id}.yaml"


def _existing_path(root: Path, entry_id: str) -> Path | None:
    found = list((root / ENTRIES_DIRNAME).glob(f"*/{entry_id}.yaml"))
    return found[0] if found else None


def _write_validated(root: Path, entry: Entry, old_path: Path | None, old_text: str | None) -> KnowledgeBase:
    path = entry_path(root, entry)
    _atomic_write(path, entry_to_yaml(entry))
    if old_path is not None and old_path != path:
        old_path.unlink()  # the topic changed: the file moves to its new folder
    try:
        return load_knowledge_base(root)
    except KnowledgeError:
        path.unlink(missing_ok=True)
        if old_path is not None and old_text is not None:
            _atomic_write(old_path, old_text)
        raise


def add_entry(root: Path, entry: Entry) -> KnowledgeBase:
    """Write a new entry; raises EntryExists or KnowledgeError (and writes nothing) on problems.
    Returns the knowledge base as now on disk, ready to serve."""
    with _locked(root):
        if _existing_path(root, entry.id) is not None:
            raise EntryExists(entry.id)
        return _write_validated(root, entry, None, None)


def update_entry(root: Path, entry: Entry) -> KnowledgeBase:
    """Replace an existing entry (same id); on an invalid result the old file is restored."""
    with _locked(root):
        old_path = _existing_path(root, entry.id)
        if old_path is None:
            raise KnowledgeError([Problem(entry_path(root, entry), None, f"no entry {entry.id!r} to edit")])
        return _write_validated(root, entry, old_path, old_path.read_text(encoding="utf-8"))
