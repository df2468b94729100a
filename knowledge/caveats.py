"""Caveats shared by many entries: written once in ``knowledge/caveats.yaml``, cited by id.

The same court-case and proclamation caveats stood on every $100,000 answer, each a copy that had
to be found and corrected one by one when the facts moved. A shared caveat has an id, its English
and its Chinese; an entry cites it as a caveat item ``{ref: <id>}`` (and its Chinese file may cite
the same id at the same place). The loader resolves every reference to the text, so everything
that reads an entry (replies, `--json`, the matcher, the translation fingerprint) sees plain
caveat text and nothing downstream knows or cares which caveats are shared. Writing an entry back
turns any caveat whose text is a shared caveat's into its reference again (knowledge/writer.py).

An unknown id is a load error with the line, like any other invalid field.

`python -m knowledge.caveats similar` lists near-identical caveats across the entries (rapidfuzz),
the candidates for a new shared caveat, and literal copies of a shared one that should cite it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from rapidfuzz import fuzz, process, utils

from knowledge import DEFAULT_KNOWLEDGE_DIR
from knowledge.entry_file import safe_load
from knowledge.model import SHARED_CAVEATS, NonEmpty, Slug

CAVEATS_FILENAME = "caveats.yaml"
# Two caveats at least this alike (rapidfuzz ratio after default processing) likely say the same
# thing: candidates for merging, for a person to judge.
SIMILAR_CAVEATS = 90.0
# A literal caveat this close to a shared one is a copy (a typo's difference): `kb lint` warns.
# Looser would flag caveats that add a word of their own ("confirm the timing with…", 91).
NEAR_COPY = 95.0
_SLUG = TypeAdapter(Slug)  # an id is a slug, as an entry's id


class SharedCaveat(BaseModel):
    """One caveat cited by many entries, in English and simplified Chinese."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    en: NonEmpty
    zh: NonEmpty


class SharedCaveats(dict[str, SharedCaveat]):
    """id → shared caveat, with the reverse look-ups the writer and the checks need."""

    def id_of(self, text: str, lang: str = "en") -> str | None:
        """The id whose text (in `lang`) is exactly `text`, if any."""
        for caveat_id, caveat in self.items():
            if getattr(caveat, lang) == text:
                return caveat_id
        return None

    def resolve(self, item: Any, lang: str = "en") -> Any:
        """A caveat item ``{ref: id}`` as that caveat's text in `lang`; any other item as is, for
        the model to judge. An unknown id or a malformed reference raises ValueError (the
        loader's validation error, with the item's line)."""
        if not isinstance(item, dict):
            return item
        if set(item) != {"ref"} or not isinstance(item["ref"], str):
            raise ValueError(f"a shared caveat is cited as {{ref: <id>}}, not {item!r}")
        caveat = self.get(item["ref"])
        if caveat is None:
            raise ValueError(
                f"unknown shared caveat {item['ref']!r} (knowledge/{CAVEATS_FILENAME})"
            )
        return getattr(caveat, lang)

    def as_refs(self, caveats: Iterable[str]) -> list[str | dict[str, str]]:
        """Caveat texts as written to a file: a shared caveat's text becomes its reference."""
        return [{"ref": ref} if (ref := self.id_of(text)) else text for text in caveats]


def caveats_path(root: Path) -> Path:
    """The knowledge folder's own caveats.yaml; a folder without one (a test's copy of the
    entries alone) uses the shipped one, which its entries were written against."""
    own = root / CAVEATS_FILENAME
    return own if own.exists() else DEFAULT_KNOWLEDGE_DIR / CAVEATS_FILENAME


def load_shared_caveats(root: Path = DEFAULT_KNOWLEDGE_DIR) -> tuple[SharedCaveats, list[str]]:
    """The table, and a message per problem (malformed file, invalid item, a text used twice)."""
    path = caveats_path(root)
    if not path.exists():
        return SharedCaveats(), []
    try:
        data = safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return SharedCaveats(), [f"{path}: {exc}".splitlines()[0]]
    if not isinstance(data, dict):
        return SharedCaveats(), [f"{path}: must map each caveat id to its en and zh text"]
    table, problems = SharedCaveats(), []
    for caveat_id, item in data.items():
        try:
            table[_SLUG.validate_python(caveat_id)] = SharedCaveat.model_validate(item)
        except (ValueError, ValidationError) as exc:
            problems.append(f"{path}: {caveat_id}: {exc}".splitlines()[0])
    for lang in ("en", "zh"):
        texts = [getattr(c, lang) for c in table.values()]
        problems += [
            f"{path}: two shared caveats have the same {lang} text: {t!r}"
            for t in set(texts)
            if texts.count(t) > 1
        ]
    return table, problems


@cache
def _shipped() -> SharedCaveats:
    return load_shared_caveats(DEFAULT_KNOWLEDGE_DIR)[0]


def shipped_caveats() -> SharedCaveats:
    """The shipped table, read once: for code that parses an entry without a folder in hand."""
    return _shipped()


def context(table: SharedCaveats | None) -> dict[str, SharedCaveats]:
    """The validation context that lets Entry and ChineseText resolve references."""
    return {SHARED_CAVEATS: table if table is not None else shipped_caveats()}


# ---- finding caveats that say the same thing ----


@dataclass(frozen=True)
class CaveatUse:
    entry_id: str
    index: int
    text: str


def similar(uses: list[CaveatUse], cutoff: float = SIMILAR_CAVEATS) -> list[list[CaveatUse]]:
    """Clusters (two or more) of caveats at least `cutoff` alike, largest first."""
    texts = [u.text for u in uses]
    parent = list(range(len(uses)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, text in enumerate(texts):
        for _, _, j in process.extract(
            text,
            texts,
            scorer=fuzz.ratio,
            processor=utils.default_process,
            score_cutoff=cutoff,
            limit=None,
        ):
            parent[root(i)] = root(j)
    clusters: dict[int, list[CaveatUse]] = {}
    for i, use in enumerate(uses):
        clusters.setdefault(root(i), []).append(use)
    return sorted((c for c in clusters.values() if len(c) > 1), key=len, reverse=True)


def near_copies(
    uses: list[CaveatUse], table: SharedCaveats, cutoff: float = NEAR_COPY
) -> list[tuple[CaveatUse, str]]:
    """Literal caveats that are (nearly) a shared caveat's text: each should cite it instead."""
    found = []
    shared = {caveat_id: c.en for caveat_id, c in table.items()}
    for use in uses:
        best = process.extractOne(
            use.text,
            shared,
            scorer=fuzz.ratio,
            processor=utils.default_process,
            score_cutoff=cutoff,
        )
        if best is not None:
            found.append((use, best[2]))
    return found


def literal_uses(root: Path = DEFAULT_KNOWLEDGE_DIR) -> list[CaveatUse]:
    """Every caveat the entry files write out in full (references left out)."""
    uses = []
    for path in sorted((root / "entries").glob("*/*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        items = data.get("caveats") or [] if isinstance(data, dict) else []
        uses += [
            CaveatUse(path.stem, i, item) for i, item in enumerate(items) if isinstance(item, str)
        ]
    return uses


def main(argv: list[str]) -> int:
    """`python -m knowledge.caveats similar [CUTOFF]`: for maintainers merging repeated caveats."""
    command, *rest = argv or ["similar"]
    if command != "similar":
        print(__doc__)
        return 2
    cutoff = float(rest[0]) if rest else SIMILAR_CAVEATS
    uses = literal_uses()
    table, problems = load_shared_caveats()
    for problem in problems:
        print(problem)
    for use, caveat_id in near_copies(uses, table, min(cutoff, NEAR_COPY)):
        print(
            f"{use.entry_id} caveat {use.index}: nearly shared caveat {caveat_id!r}; cite it as {{ref: {caveat_id}}}"
        )
    for cluster in similar(uses, cutoff):
        print(f"\n{len(cluster)} alike:")
        for use in cluster:
            print(f"  {use.entry_id}#{use.index}: {use.text}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
