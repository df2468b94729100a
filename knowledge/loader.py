"""Load and validate the knowledge base from YAML files.

Every problem is reported as ``path:line: message`` so maintainers can jump to it; the loader
collects all problems before failing, because fixing one error at a time is slow.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from knowledge.bilingual import ChineseText, load_chinese
from knowledge.caveats import (
    SharedCaveat,
    SharedCaveats,
    caveats_path,
    context,
    load_shared_caveats,
    shipped_caveats,
)
from knowledge.compact_entries import EntryStore
from knowledge.entry_file import PARSED_CACHE_SIZE, SafeLoader, read_entry_file
from knowledge.model import Entry


class _Loader(SafeLoader):  # type: ignore[misc,valid-type]
    """libyaml's safe loader when available (knowledge/entry_file.py), with dates left as
    strings: pydantic then reports a bad date as a field error with its line, where PyYAML would
    raise a bare ValueError. A key given twice is an error: YAML would keep the last one silently
    and drop, say, half of a synonym list."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str | int) and key in first_line:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first given on line {first_line[key]})",
                    key_node.start_mark,
                )
            if isinstance(key, str | int):
                first_line[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)  # type: ignore[no-any-return]


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

log = logging.getLogger(__name__)
ENTRIES_DIRNAME = "entries"
SYNONYMS_FILENAME = "synonyms.yaml"


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{where}: {self.message}"


class KnowledgeError(Exception):
    """The knowledge base is invalid; ``problems`` lists every error found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class KnowledgeBase:
    """The entries (in order, looked up by id), the synonyms, and each entry's file when loaded
    from disk. Entries are held compressed (knowledge/compact_entries.py): only the few read per question
    are Python objects at any time, so a large base fits in memory."""

    def __init__(
        self,
        entries: Iterable[Entry],
        synonyms: dict[str, list[str]] | None = None,
        paths: dict[str, Path] | None = None,
        chinese: dict[str, ChineseText] | None = None,
        skipped: list[Problem] | None = None,
        shared: SharedCaveats | None = None,
    ):
        self.entries = entries if isinstance(entries, EntryStore) else EntryStore(entries)
        self.synonyms = synonyms if synonyms is not None else {}
        self.paths = paths if paths is not None else {}
        self.chinese = (
            chinese if chinese is not None else {}
        )  # id → Chinese text (knowledge/bilingual.py)
        # Problems set aside by a lenient load (skip_invalid=True): to be reported, not served.
        self.skipped = skipped if skipped is not None else []
        self.shared = shared if shared is not None else SharedCaveats()  # knowledge/caveats.py

    @property
    def by_id(self) -> Mapping[str, Entry]:
        return self.entries.by_id

    def get(self, entry_id: str) -> Entry | None:
        return self.entries.get(entry_id)


def _line_of(node: yaml.Node | None, loc: Iterable[Any]) -> int | None:
    """Follow a pydantic error location through the YAML node tree to a 1-based line."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    child = value
                    line = key.start_mark.line + 1
                    break
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


def _yaml_problem(path: Path, exc: yaml.YAMLError) -> Problem:
    mark = getattr(exc, "problem_mark", None)
    reason = getattr(exc, "problem", None) or str(exc)
    return Problem(path, mark.line + 1 if mark else None, f"malformed YAML: {reason}")


def parse_entry_text(
    text: str, path: Path, shared: SharedCaveats | None = None
) -> tuple[Entry | None, list[Problem]]:
    """Parse and validate one entry's YAML text; never raises for bad content. Caveats citing a
    shared caveat resolve against `shared` (the shipped knowledge/caveats.yaml when None)."""
    table = shared if shared is not None else shipped_caveats()
    entry, problems = _parse_entry_text(text, tuple(table.items()))
    return entry, [dataclasses.replace(p, path=path) for p in problems]


_ANY_PATH = Path("entry.yaml")  # the cached problems' path, replaced by the file's own


@functools.lru_cache(maxsize=PARSED_CACHE_SIZE)  # an unchanged text's parse is reused
def _parse_entry_text(
    text: str, shared: tuple[tuple[str, SharedCaveat], ...]
) -> tuple[Entry | None, tuple[Problem, ...]]:
    path = _ANY_PATH
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        return None, (_yaml_problem(path, exc),)
    if not isinstance(data, dict):
        return None, (Problem(path, 1, "an entry must be a YAML mapping of fields"),)
    try:
        return Entry.model_validate(data, context=context(SharedCaveats(shared))), ()
    except ValidationError as exc:
        node = yaml.compose(text, Loader=_Loader)  # parsed again only to find line numbers
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "entry"
            problems.append(Problem(path, _line_of(node, err["loc"]), f"{loc}: {err['msg']}"))
        return None, tuple(problems)


def load_synonyms(path: Path) -> tuple[dict[str, list[str]], list[Problem]]:
    """Synonyms: canonical term -> variants users type. Missing file means none."""
    if not path.exists():
        return {}, []
    try:
        synonyms = _parse_synonyms(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        return {}, [_yaml_problem(path, exc)]
    if synonyms is None:
        return {}, [Problem(path, 1, "synonyms must map each canonical term to a list of strings")]
    return {term: list(variants) for term, variants in synonyms}, []


@functools.lru_cache(maxsize=4)  # read with every load, like the entries (PARSED_CACHE_SIZE)
def _parse_synonyms(text: str) -> tuple[tuple[str, tuple[str, ...]], ...] | None:
    """A synonyms file's terms and variants, or None when it is not a mapping of lists of strings
    (malformed YAML raises)."""
    data = yaml.load(text, Loader=_Loader) or {}
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(x, str) for x in v)
        for k, v in data.items()
    ):
        return None
    return tuple((term, tuple(variants)) for term, variants in data.items())


def _file_problem(path: Path, exc: Exception) -> Problem:
    if isinstance(exc, OSError) and exc.errno is not None:
        reason = os.strerror(exc.errno)
        if os.path.islink(path):
            reason = "a symbolic link, not a regular file; skipped"
        return Problem(path, None, f"cannot read: {reason}")
    return Problem(path, None, f"cannot read: {exc}")


def load_knowledge_base(root: Path, skip_invalid: bool = False) -> KnowledgeBase:
    """Load ``root/entries/<topic>/<id>.yaml`` and ``root/synonyms.yaml``.

    Strict (the default, for `kb validate` and the writer): raises KnowledgeError listing every
    problem: schema, duplicate ids, file name or folder not matching id and topic, related ids
    that do not exist, files that are not regular or too big.

    With ``skip_invalid`` (start-up, /reload, the commands that only read): a file with a problem
    is left out and its problems are kept in ``skipped``, so one bad file (say, left by a crash or
    a typo) cannot stop the bot from serving every valid entry. Only a base with no valid entry
    at all still raises.
    """
    entries_dir = root / ENTRIES_DIRNAME
    problems: list[Problem] = []
    skipped: list[Problem] = []
    if not entries_dir.is_dir():
        raise KnowledgeError([Problem(entries_dir, None, "no entries folder here")])
    entries = EntryStore()  # filled one at a time, so the whole base is never held as objects
    paths: dict[str, Path] = {}
    related: list[tuple[str, str]] = []
    shared, shared_problems = load_shared_caveats(root)
    # A broken table refuses only the entries citing what it lost (their unknown ids).
    table_problems = [Problem(caveats_path(root), None, message) for message in shared_problems]
    problems += table_problems
    skipped += table_problems
    for path in sorted(entries_dir.glob("*/*.yaml")):
        found = []
        try:
            text = read_entry_file(path)
        except (OSError, UnicodeDecodeError) as exc:
            found = [_file_problem(path, exc)]
            entry = None
        else:
            entry, found = parse_entry_text(text, path, shared)
        if entry is not None:
            if entry.id in paths:
                found.append(
                    Problem(path, None, f"duplicate id {entry.id!r} (also in {paths[entry.id]})")
                )
            if path.stem != entry.id:
                found.append(Problem(path, None, f"file name must be {entry.id}.yaml"))
            if path.parent.name != entry.topic.value:
                found.append(
                    Problem(
                        path,
                        None,
                        f"entry of topic {entry.topic.value!r} is in folder {path.parent.name!r}",
                    )
                )
        if found:
            problems.extend(found)
            skipped.extend(found)
        if entry is None or (found and skip_invalid) or entry.id in paths:
            continue
        paths[entry.id] = path
        entries.append(entry)
        related.extend((entry.id, rel) for rel in entry.related)
    for entry_id, rel in related:
        if rel not in paths:
            # Kept when lenient: the answer stands on its own; the missing link is not offered.
            problem = Problem(paths[entry_id], None, f"related id {rel!r} does not exist")
            problems.append(problem)
            skipped.append(problem)
    synonyms, syn_problems = load_synonyms(root / SYNONYMS_FILENAME)
    problems.extend(syn_problems)
    skipped.extend(syn_problems)
    if not entries:
        raise KnowledgeError(problems or [Problem(entries_dir, None, "no entries found")])
    if problems and not skip_invalid:
        raise KnowledgeError(problems)
    chinese, _ = load_chinese(root)  # a bad translation never stops the bot; `kb lint` reports it
    return KnowledgeBase(
        entries=entries,
        synonyms=synonyms,
        paths=paths,
        chinese=chinese,
        skipped=skipped,
        shared=shared,
    )


def report_skipped(skipped: list[Problem]) -> None:
    """Log what a lenient load left out, one line per problem, so it is fixed rather than missed."""
    for problem in skipped:
        log.warning("knowledge base: skipped: %s", problem)
    if skipped:
        log.warning(
            "knowledge base: %d problem(s) skipped; run `visabot kb lint` for details", len(skipped)
        )
