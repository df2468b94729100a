"""Write entries to disk in the standard format, safely.

Used by `visabot kb add`, Telegram's /add and /edit. Every write happens under an exclusive file
lock on the knowledge folder, is validated BEFORE anything touches the disk (the exact text to be
written is parsed back, and its related ids checked against the entries on disk), then lands
atomically (temporary file in the same folder, fsync, rename). A crash at any point leaves either
the old file or the new, valid one, never a half-written or invalid entry. So two maintainers
adding at once can neither overwrite each other nor create the same id twice. Files get the
usual mode for the umask (0644 under 022), so a bot running as another user can read them.
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

from knowledge.caveats import SharedCaveats, load_shared_caveats, shipped_caveats
from knowledge.loader import (
    ENTRIES_DIRNAME,
    KnowledgeBase,
    KnowledgeError,
    Problem,
    load_knowledge_base,
    parse_entry_text,
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


def entry_to_yaml(entry: Entry, shared: SharedCaveats | None = None) -> str:
    """The entry's file; a caveat whose text is a shared caveat's is written as its reference
    (`shared`: the folder's knowledge/caveats.yaml, the shipped one when None)."""
    data = entry.model_dump(mode="json")
    data["caveats"] = (shared if shared is not None else shipped_caveats()).as_refs(entry.caveats)
    for source in [*data["sources"], *(h["source"] for h in data["history"])]:
        if not source.get("approximate"):
            source.pop("approximate", None)
    if data["summary"] is None:
        data.pop("summary")
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


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (os.umask sets it, which
    would race with files other threads create meanwhile)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600 whatever the umask
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


def _check_before_write(root: Path, entry: Entry, path: Path, text: str) -> None:
    """Raise KnowledgeError if `text` (entry's file) would not load cleanly beside the entries on
    disk. Other files' problems do not block: the loader skips those and reports them."""
    parsed, problems = parse_entry_text(text, path, load_shared_caveats(root)[0])
    if parsed is not None and parsed != entry:
        problems.append(Problem(path, None, "the entry does not survive being written as YAML"))
    existing = load_knowledge_base(root, skip_invalid=True).by_id
    problems.extend(
        Problem(path, None, f"related id {rel!r} does not exist")
        for rel in entry.related
        if rel not in existing and rel != entry.id
    )
    if problems:
        raise KnowledgeError(problems)


def _write_validated(root: Path, entry: Entry, old_path: Path | None) -> KnowledgeBase:
    path = entry_path(root, entry)
    text = entry_to_yaml(entry, load_shared_caveats(root)[0])
    _check_before_write(root, entry, path, text)
    _atomic_write(path, text)
    if old_path is not None and old_path != path:
        old_path.unlink()  # the topic changed: the file moves to its new folder
    return load_knowledge_base(root, skip_invalid=True)


def add_entry(root: Path, entry: Entry) -> KnowledgeBase:
    """Write a new entry; raises EntryExists or KnowledgeError (and writes nothing) on problems.
    Returns the knowledge base as now on disk, ready to serve."""
    with _locked(root):
        if _existing_path(root, entry.id) is not None:
            raise EntryExists(entry.id)
        return _write_validated(root, entry, None)


def update_entry(root: Path, entry: Entry) -> KnowledgeBase:
    """Replace an existing entry (same id); an invalid one raises KnowledgeError, and the old file
    stays untouched."""
    with _locked(root):
        old_path = _existing_path(root, entry.id)
        if old_path is None:
            raise KnowledgeError([Problem(entry_path(root, entry), None, f"no entry {entry.id!r} to edit")])
        return _write_validated(root, entry, old_path)


class NoSuchEntry(Exception):
    """No entry file has this id."""


def remove_entry(root: Path, entry_id: str) -> tuple[KnowledgeBase, list[str]]:
    """Delete an entry's file under the write lock. Returns the knowledge base now on disk and
    the ids of entries that still list it as related (the bot then no longer offers that link;
    `kb lint` reports it until their files are fixed). Raises NoSuchEntry."""
    with _locked(root):
        path = _existing_path(root, entry_id)
        if path is None:
            raise NoSuchEntry(entry_id)
        path.unlink()
        base = load_knowledge_base(root, skip_invalid=True)
    return base, [e.id for e in base.entries if entry_id in e.related]
