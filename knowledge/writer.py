"""Write entries to disk in the standard format, safely.

Used by `visabot kb add`, Telegram's /add and /edit, with the entry's Chinese text
(knowledge/zh/<id>.yaml) written in the same locked step, so the two languages land together. Every write happens under an exclusive file
lock on the knowledge folder, is validated BEFORE anything touches the disk (the exact text to be
written is parsed back, and its related ids checked against the entries on disk), then lands
atomically (temporary file in the same folder, fsync, rename). A crash at any point leaves either
the old file or the new, valid one, never a half-written or invalid entry. So two maintainers
adding at once can neither overwrite each other nor create the same id twice. Files get the
usual mode for the umask (0644 under 022), so a bot running as another user can read them.

An edit writes the file back round-trip (ruamel.yaml): only the fields that changed are
re-serialised, and the others keep their order, comments, quoting and line breaks, so a git diff
shows only the change. Should that text not parse back to the very entry, the whole file is
written afresh in the standard format instead.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import io
import os
import re
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import FoldedScalarString

from knowledge.bilingual import ZH_DIRNAME, ChineseText, fingerprint
from knowledge.caveats import SharedCaveats, context, load_shared_caveats, shipped_caveats
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


def _entry_data(entry: Entry, shared: SharedCaveats | None = None) -> dict[str, Any]:
    """The entry as the files hold it: optional empty lists and approximate: false left out, and
    a caveat whose text is a shared caveat's as its reference (`shared`: the folder's
    knowledge/caveats.yaml, the shipped one when None)."""
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
    return data


def entry_to_yaml(entry: Entry, shared: SharedCaveats | None = None) -> str:
    """The entry's file in the standard format."""
    return yaml.dump(
        _entry_data(entry, shared), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100
    )


def _plain(value: Any) -> Any:
    """Loaded YAML as the JSON-mode data `_entry_data` gives (dates as ISO text), without the
    empty fields of nested mappings (a source's `via: null` is the same as no `via`)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _dated(value: Any) -> Any:
    """JSON-mode data with its ISO dates as dates again, so they are written unquoted, and
    without the empty fields of nested mappings."""
    if isinstance(value, dict):
        return {k: _dated(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_dated(v) for v in value]
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return dt.date.fromisoformat(value)
    return value


def _folded(text: str) -> FoldedScalarString:
    """A one-paragraph text as a folded block (`>-`), its lines broken at spaces within 100
    columns, as the shipped answers are written."""
    folded = FoldedScalarString(text)
    positions, at = [], 0
    for line in textwrap.wrap(text, 98, break_long_words=False, break_on_hyphens=False)[:-1]:
        at = text.index(line, at) + len(line)
        positions.append(at)
    folded.fold_pos = positions
    return folded  # type: ignore[no-any-return]  # ruamel.yaml ships no type information


def _round_trip_yaml(
    old_text: str, entry: Entry, shared: SharedCaveats | None = None
) -> str | None:
    """`old_text` with only the fields that differ from `entry` replaced (a list that only grew
    keeps its items and their comments); None when the old text cannot be read round-trip."""
    rt = YAML()
    rt.width = 4096  # never re-wrap a line that is kept
    rt.preserve_quotes = True
    rt.indent(mapping=2, sequence=4, offset=2)
    try:
        doc = rt.load(old_text)
    except YAMLError:
        return None
    if not isinstance(doc, CommentedMap):
        return None
    new = _entry_data(entry, shared)
    for key in [k for k in doc if k not in new]:
        del doc[key]
    for key, value in new.items():
        old = doc.get(key)
        if (key in doc and _plain(old) == _plain(value)) or (key not in doc and value is None):
            continue
        if (
            isinstance(old, CommentedSeq)
            and isinstance(value, list)
            and _plain(list(old)) == _plain(value[: len(old)])
        ):
            old.extend(_dated(value[len(old) :]))  # appended: the existing items stay as written
        elif isinstance(old, FoldedScalarString) and isinstance(value, str) and "\n" not in value:
            doc[key] = _folded(value)  # a changed answer keeps its block style
        else:
            doc[key] = _dated(value)
    out = io.StringIO()
    rt.dump(doc, out)
    return out.getvalue()


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


def zh_path(root: Path, entry_id: str) -> Path:
    return root / ZH_DIRNAME / f"{entry_id}.yaml"


def chinese_to_yaml(text: ChineseText, shared: SharedCaveats) -> str:
    """The Chinese file in the standard format: a shared caveat's Chinese as its reference."""
    data = text.model_dump(mode="json")
    data["caveats"] = [{"ref": ref} if (ref := shared.id_of(c, "zh")) else c for c in text.caveats]
    if not data["caveats"]:
        data.pop("caveats")
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def chinese_on_disk(root: Path, entry_id: str) -> ChineseText | None:
    """The entry's Chinese as its file says now (None when there is no valid one)."""
    path = zh_path(root, entry_id)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return ChineseText.model_validate(data, context=context(load_shared_caveats(root)[0]))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError):
        return None


def _chinese_text(root: Path, entry: Entry, zh: ChineseText, shared: SharedCaveats) -> str | None:
    """The text of `zh`'s file, None when the file already says it; KnowledgeError when it is
    not the translation of this very entry or does not read back as itself."""
    path = zh_path(root, entry.id)
    text = chinese_to_yaml(zh, shared)
    if zh.id != entry.id or zh.translates != fingerprint(entry):
        raise KnowledgeError(
            [Problem(path, None, "the Chinese text is not a translation of this entry as saved")]
        )
    if ChineseText.model_validate(yaml.safe_load(text), context=context(shared)) != zh:
        raise KnowledgeError(
            [Problem(path, None, "the Chinese text does not survive being written as YAML")]
        )
    return None if chinese_on_disk(root, entry.id) == zh else text


def _write_validated(
    root: Path, entry: Entry, old_path: Path | None, zh: ChineseText | None = None
) -> KnowledgeBase:
    path = entry_path(root, entry)
    shared = load_shared_caveats(root)[0]
    zh_text = _chinese_text(root, entry, zh, shared) if zh is not None else None
    text = entry_to_yaml(entry, shared)
    if old_path is not None:
        kept = _round_trip_yaml(old_path.read_text(encoding="utf-8"), entry, shared)
        if kept is not None and parse_entry_text(kept, path, shared)[0] == entry:
            text = kept
    _check_before_write(root, entry, path, text)
    _atomic_write(path, text)
    if zh_text is not None:
        _atomic_write(zh_path(root, entry.id), zh_text)
    if old_path is not None and old_path != path:
        old_path.unlink()  # the topic changed: the file moves to its new folder
    return load_knowledge_base(root, skip_invalid=True)


def add_entry(root: Path, entry: Entry, zh: ChineseText | None = None) -> KnowledgeBase:
    """Write a new entry, and its Chinese text `zh` when given (knowledge.bilingual.translation
    makes one); raises EntryExists or KnowledgeError (and writes nothing) on problems.
    Returns the knowledge base as now on disk, ready to serve."""
    with _locked(root):
        if _existing_path(root, entry.id) is not None:
            raise EntryExists(entry.id)
        return _write_validated(root, entry, None, zh)


def update_entry(root: Path, entry: Entry, zh: ChineseText | None = None) -> KnowledgeBase:
    """Replace an existing entry (same id), and its Chinese text when `zh` is given (rewritten
    only when it differs from the file); an invalid one raises KnowledgeError, and the old files
    stay untouched."""
    with _locked(root):
        old_path = _existing_path(root, entry.id)
        if old_path is None:
            raise KnowledgeError(
                [Problem(entry_path(root, entry), None, f"no entry {entry.id!r} to edit")]
            )
        return _write_validated(root, entry, old_path, zh)


class NoSuchEntry(Exception):
    """No entry file has this id."""


def remove_entry(root: Path, entry_id: str) -> tuple[KnowledgeBase, list[str]]:
    """Delete an entry's file (and its Chinese) under the write lock. Returns the knowledge base now on disk and
    the ids of entries that still list it as related (the bot then no longer offers that link;
    `kb lint` reports it until their files are fixed). Raises NoSuchEntry."""
    with _locked(root):
        path = _existing_path(root, entry_id)
        if path is None:
            raise NoSuchEntry(entry_id)
        path.unlink()
        zh_path(root, entry_id).unlink(missing_ok=True)  # its Chinese goes with it
        base = load_knowledge_base(root, skip_invalid=True)
    return base, [e.id for e in base.entries if entry_id in e.related]
