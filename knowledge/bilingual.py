"""Chinese text for the entries, and the checks that keep it in step with the English.

Each entry's simplified-Chinese question, answer and caveats live in ``knowledge/zh/<id>.yaml``,
beside rather than inside the English entry: the English stays the one place where facts and
sources are edited, and a translation records the fingerprint of the English it was written
from (`translates`). When the English changes, the fingerprint no longer matches and `kb lint`
reports the translation as out of step until someone updates it.

The number check compares the sets of numbers, amounts and dates in each language, with Chinese
dates (2025年9月21日) and 万 amounts (10万美元) read as the English writes them (21 Sep 2025,
$100,000), so a translation cannot quietly change a fee, a cap or a deadline.
"""

from __future__ import annotations

import functools
import hashlib
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from knowledge import DEFAULT_KNOWLEDGE_DIR
from knowledge.caveats import (
    SharedCaveat,
    SharedCaveats,
    context,
    load_shared_caveats,
    shipped_caveats,
)
from knowledge.entry_file import PARSED_CACHE_SIZE, read_entry_file, safe_load
from knowledge.model import MAX_ANSWER_CHARS, Entry, NonEmpty, Slug, resolve_shared

ZH_DIRNAME = "zh"
NO_CHINESE = (
    "no Chinese text yet (knowledge/zh/<id>.yaml); replies in Chinese fall back to the English"
)
FINGERPRINT_CHARS = 12


class ChineseText(BaseModel):
    """One entry's simplified-Chinese text; the caveats pair one-to-one with the English ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Slug
    translates: str = Field(pattern=r"^[0-9a-f]{12}$")
    question: NonEmpty
    answer: NonEmpty = Field(max_length=MAX_ANSWER_CHARS)
    # Each its text, or a reference to a shared caveat (knowledge/caveats.yaml), as its Chinese.
    caveats: list[
        Annotated[NonEmpty, BeforeValidator(lambda item, info: resolve_shared(item, info, "zh"))]
    ] = Field(default_factory=list)


def fingerprint(entry: Entry) -> str:
    """A short hash of the English a translation must follow: question, answer and caveats.

    Taken over the caveats as resolved (a shared caveat's text, not its id), so citing a shared
    caveat whose text is the entry's own changes nothing, and editing a shared caveat puts every
    translation of an entry citing it out of step, as editing the entry itself would. The answer's
    `summary` is left out: Chinese replies show the whole translated answer, which is short."""
    text = "\n".join([entry.question, entry.answer, *entry.caveats])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:FINGERPRINT_CHARS]


def load_chinese(root: Path = DEFAULT_KNOWLEDGE_DIR) -> tuple[dict[str, ChineseText], list[str]]:
    """Every ``root/zh/<id>.yaml``, and a message per file that cannot be read or is invalid."""
    texts: dict[str, ChineseText] = {}
    problems: list[str] = []
    folder = root / ZH_DIRNAME
    shared, _ = load_shared_caveats(root)  # its own problems are reported by the entries' load
    table = tuple(shared.items())
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        try:
            text = _parse_chinese(read_entry_file(path), table)
        except (OSError, UnicodeDecodeError, yaml.YAMLError, ValidationError) as exc:
            problems.append(f"{path.name}: {exc}".splitlines()[0])
            continue
        if path.stem != text.id:
            problems.append(f"{path.name}: file name must be {text.id}.yaml")
            continue
        texts[text.id] = text
    return texts, problems


@functools.lru_cache(maxsize=PARSED_CACHE_SIZE)
def _parse_chinese(text: str, shared: tuple[tuple[str, SharedCaveat], ...]) -> ChineseText:
    """One translation file's text, validated; an unchanged file's is reused (PARSED_CACHE_SIZE)."""
    return ChineseText.model_validate(safe_load(text), context=context(SharedCaveats(shared)))


# ---- numbers, amounts and dates, as comparable strings ----

MONTHS = {
    m: n
    for n, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
# Names and ordinals carry digits that are not facts: H-1B(s), I-94, EB-2, P17, 7th.
# Bounded by any non-alphanumeric character, Chinese ones included ("和H-1B相比").
_NAMES = re.compile(
    r"(?<![A-Za-z0-9])(?:[A-Z]{1,3}-\d+[A-Z]?s?|[A-Z]{1,2}\d{1,3}[A-Z]?s?|\d+(?:st|nd|rd|th))(?![A-Za-z0-9])"
)
_EN_DATE = re.compile(
    r"\b(\d{1,2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?(?: (\d{4}))?\b"
)
_EN_MONTH_YEAR = re.compile(
    r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.? (\d{4})\b"
)
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_ZH_DATE = re.compile(r"(?:(\d{4})\s*年\s*)?(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_ZH_MONTH_YEAR = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月(?!\s*\d)")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_WAN = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s*(万|亿)")
_EN_K = re.compile(r"\b(\d+(?:\.\d+)?)\s*[kK]\b")
_SCALE_WORDS = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s*(million|billion)\b", re.IGNORECASE)
_SCALES = {"million": 1_000_000, "billion": 1_000_000_000, "万": 10_000, "亿": 100_000_000}


def _scaled(match: re.Match[str]) -> str:
    return _plain(str(Decimal(match.group(1).replace(",", "")) * _SCALES[match.group(2).lower()]))


def _date(year: str | None, month: int, day: str | None) -> str:
    parts = [year] if year else []
    parts.append(f"{month:02d}")
    if day:
        parts.append(f"{int(day):02d}")
    return "-".join(parts)


def _plain(number: str) -> str:
    try:
        return format(Decimal(number.replace(",", "")).normalize(), "f")
    except InvalidOperation:
        return number


def _take(
    pattern: re.Pattern[str], text: str, found: set[str], read: Callable[[re.Match[str]], str]
) -> str:
    """Add what each match of `pattern` reads as to `found`; return the text without the matches,
    so a date's digits are not counted again as plain numbers."""

    def collect(match: re.Match[str]) -> str:
        found.add(read(match))
        return " "

    return pattern.sub(collect, text)


def _dates_then_numbers(text: str, found: set[str]) -> set[str]:
    text = _take(_ISO_DATE, text, found, lambda m: m.group(0))
    found.update(_plain(m.group(0)) for m in _NUMBER.finditer(text))
    return found


def english_numbers(text: str) -> set[str]:
    """Dates as YYYY-MM-DD (or MM-DD, YYYY-MM), other numbers plain: "$100,000" → "100000"."""
    found: set[str] = set()
    text = _NAMES.sub(" ", text)
    text = _take(
        _EN_DATE, text, found, lambda m: _date(m.group(3), MONTHS[m.group(2).lower()], m.group(1))
    )
    text = _take(
        _EN_MONTH_YEAR, text, found, lambda m: _date(m.group(2), MONTHS[m.group(1).lower()], None)
    )
    text = _take(_EN_K, text, found, lambda m: _plain(str(Decimal(m.group(1)) * 1000)))
    text = _take(_SCALE_WORDS, text, found, _scaled)
    return _dates_then_numbers(text, found)


def chinese_numbers(text: str) -> set[str]:
    """The same reading of Chinese text: 2025年9月21日 → 2025-09-21, 10万 → 100000."""
    found: set[str] = set()
    text = _NAMES.sub(" ", text)
    text = _take(_ZH_DATE, text, found, lambda m: _date(m.group(1), int(m.group(2)), m.group(3)))
    text = _take(_ZH_MONTH_YEAR, text, found, lambda m: _date(m.group(1), int(m.group(2)), None))
    text = _take(_WAN, text, found, _scaled)
    text = _take(_SCALE_WORDS, text, found, _scaled)
    text = re.sub(r"(\d{4})\s*年", r"\1 ", text)  # a bare year: 2026年 → 2026
    return _dates_then_numbers(text, found)


# ---- the lint ----


@dataclass(frozen=True)
class BilingualProblem:
    entry_id: str
    message: str


def check_entry(
    entry: Entry, zh: ChineseText | None, shared: SharedCaveats | None = None
) -> list[BilingualProblem]:
    """What keeps this entry's two languages from saying the same thing."""
    if zh is None:
        return [BilingualProblem(entry.id, NO_CHINESE)]
    problems = []
    if zh.translates != fingerprint(entry):
        problems.append(
            BilingualProblem(
                entry.id, "the English changed since the Chinese was written; update both"
            )
        )
    if len(zh.caveats) != len(entry.caveats):
        problems.append(
            BilingualProblem(
                entry.id, f"{len(entry.caveats)} English caveats but {len(zh.caveats)} Chinese"
            )
        )
    problems += _misaligned_shared(entry, zh, shared if shared is not None else shipped_caveats())
    pairs = [
        (entry.question, zh.question),
        (entry.answer, zh.answer),
        *zip(entry.caveats, zh.caveats, strict=False),
    ]
    english = set().union(*(english_numbers(en) for en, _ in pairs))
    chinese = set().union(*(chinese_numbers(cn) for _, cn in pairs))
    difference = number_difference(english, chinese)
    if difference:
        problems.append(BilingualProblem(entry.id, difference))
    return problems


def number_difference(english: set[str], chinese: set[str]) -> str | None:
    """What differs between the numbers read from each language (see english_numbers), or None."""
    if english == chinese:
        return None
    return f"numbers differ: only in English {sorted(english - chinese)}, only in Chinese {sorted(chinese - english)}"


def texts_differ(english: str, chinese: str) -> str | None:
    """The same check for one text in each language, such as a broadcast and its Chinese version."""
    return number_difference(english_numbers(english), chinese_numbers(chinese))


def _misaligned_shared(
    entry: Entry, zh: ChineseText, shared: SharedCaveats
) -> list[BilingualProblem]:
    """A shared caveat's Chinese at another place than its English: the lists no longer pair."""
    problems = []
    for n, (en, cn) in enumerate(zip(entry.caveats, zh.caveats, strict=False)):
        cited = shared.id_of(cn, "zh")
        if cited is not None and cited != shared.id_of(en):
            problems.append(
                BilingualProblem(
                    entry.id,
                    f"Chinese caveat {n + 1} is shared caveat {cited!r}, the English one is not",
                )
            )
    return problems


def check_all(
    entries: list[Entry], texts: dict[str, ChineseText], shared: SharedCaveats | None = None
) -> list[BilingualProblem]:
    known = {e.id for e in entries}
    problems = [p for e in entries for p in check_entry(e, texts.get(e.id), shared)]
    problems += [
        BilingualProblem(i, "Chinese text for an entry that does not exist")
        for i in sorted(set(texts) - known)
    ]
    return problems


# ---- the Chinese written with the English: Telegram's /add and /edit, `visabot kb add` ----

PARTS = ("question", "answer", "caveats")


class Untranslated(ValueError):
    """An entry cannot be saved with this Chinese: a part is missing (or kept although the English
    it translates changed), or it says other numbers than the English. The message says which."""


@dataclass
class ChineseParts:
    """The Chinese a maintainer gave for an entry. None for a part not given: missing for a new
    entry; for an edit, "keep the Chinese on disk", allowed only where its English did not change.
    Caveat items may be a shared caveat's Chinese text or its reference ``{ref: <id>}``."""

    question: str | None = None
    answer: str | None = None
    caveats: list[str | dict[str, str]] | None = None


def keepable(
    part: str, english: object, original: Entry | None, before: ChineseText | None
) -> bool:
    """Whether the Chinese `part` on disk (`before`, of the entry as it was: `original`) may be
    kept now that its English reads `english`: only when it was in step and that English is the same."""
    return (
        original is not None
        and before is not None
        and before.translates == fingerprint(original)
        and getattr(original, part) == english
    )


def shared_chinese(caveats: Sequence[str], shared: SharedCaveats) -> list[str | None]:
    """Each English caveat's Chinese when it is a shared caveat (from the table); None for each
    one the maintainer has to translate."""
    return [shared[ref].zh if (ref := shared.id_of(c)) else None for c in caveats]


def translation(
    entry: Entry,
    parts: ChineseParts,
    shared: SharedCaveats,
    original: Entry | None = None,
    before: ChineseText | None = None,
) -> ChineseText:
    """The Chinese text to save with `entry` (its fingerprint taken from it), or Untranslated.

    For an edit, `original` is the entry as it was and `before` its Chinese on disk; a part not
    given keeps `before`'s while that may be kept (see keepable). Caveats not given are filled in
    when every English caveat is a shared one. The numbers and dates are checked as `kb lint` does."""
    values: dict[str, object] = {}
    for part in PARTS:
        given = getattr(parts, part)
        if given is None and keepable(part, getattr(entry, part), original, before):
            given = getattr(before, part)
        if (
            given is None
            and part == "caveats"
            and None not in (filled := shared_chinese(entry.caveats, shared))
        ):
            given = filled
        if given is None:
            changed = (
                " (its English changed, so it must be written anew)" if original is not None else ""
            )
            raise Untranslated(f"the Chinese {part} is missing{changed}")
        values[part] = given
    try:
        text = ChineseText.model_validate(
            {"id": entry.id, "translates": fingerprint(entry), **values}, context=context(shared)
        )
    except ValidationError as exc:
        raise Untranslated(
            "; ".join(f"Chinese {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        ) from None
    problems = check_entry(entry, text, shared)
    if problems:
        raise Untranslated("; ".join(p.message for p in problems))
    return text


def main(argv: list[str]) -> int:
    """`python -m knowledge.bilingual fingerprint|check [ID...]`: for translators."""
    from knowledge.loader import load_knowledge_base

    command, *ids = argv or ["check"]
    base = load_knowledge_base(DEFAULT_KNOWLEDGE_DIR)
    entries = [e for e in base.entries if not ids or e.id in ids]
    if command == "fingerprint":
        for entry in entries:
            print(entry.id, fingerprint(entry))
        return 0
    texts, problems = load_chinese()
    for problem in problems:
        print(problem)
    found = [p for e in entries for p in check_entry(e, texts.get(e.id))]
    for p in found:
        print(f"{p.entry_id}: {p.message}")
    return 1 if problems or found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
