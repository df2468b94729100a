"""Shared caveats (knowledge/caveats.yaml): written once, cited by id, resolved on load.

The same court-case and proclamation caveats were copied onto every $100,000 answer; these tests
hold the shipped entries to citing them, and the loader, writer, lint and the translation checks
to treating a reference exactly as the text it stands for.
"""

from __future__ import annotations

import collections
from pathlib import Path

import pytest
import yaml

from knowledge import DEFAULT_KNOWLEDGE_DIR
from knowledge.bilingual import check_entry, fingerprint, load_chinese
from knowledge.caveats import SharedCaveats, load_shared_caveats, shipped_caveats
from knowledge.entry_file import safe_load
from knowledge.lint import lint_folder
from knowledge.loader import KnowledgeBase, KnowledgeError, load_knowledge_base, parse_entry_text
from knowledge.writer import entry_to_yaml, update_entry

ONE_TIME = DEFAULT_KNOWLEDGE_DIR / "entries" / "h1b" / "h1b-100k-one-time.yaml"


def _raw_caveats() -> dict[str, list[object]]:
    return {
        p.stem: (safe_load(p.read_text(encoding="utf-8")).get("caveats") or [])
        for p in sorted((DEFAULT_KNOWLEDGE_DIR / "entries").glob("*/*.yaml"))
    }


def test_repeated_caveats_live_once_in_the_shared_file() -> None:
    """No caveat is written out word for word in two entries, or as a copy of a shared one, and
    the court and proclamation caveats of the $100,000 answers are cited, not copied."""
    table, problems = load_shared_caveats()
    assert problems == []
    raw = _raw_caveats()
    literal = collections.Counter(c for items in raw.values() for c in items if isinstance(c, str))
    assert [text for text, n in literal.items() if n > 1] == []
    assert [text for text in literal if table.id_of(text)] == []
    cited = collections.Counter(
        c["ref"] for items in raw.values() for c in items if isinstance(c, dict)
    )
    assert set(cited) == set(table), "every shared caveat is cited, and only those"
    assert cited["h1b-100k-in-court"] >= 14 and cited["h1b-100k-term"] >= 20


def test_a_reference_resolves_to_the_text_and_is_written_back_as_a_reference() -> None:
    entry, problems = parse_entry_text(ONE_TIME.read_text(encoding="utf-8"), ONE_TIME)
    assert problems == [] and entry is not None
    court = shipped_caveats()["h1b-100k-in-court"]
    assert court.en in entry.caveats  # what every reader (replies, --json, matcher) sees
    text = entry_to_yaml(entry)
    assert "  - ref: h1b-100k-in-court\n" in text and court.en not in text
    again, problems = parse_entry_text(text, ONE_TIME)
    assert problems == [] and again == entry


def test_an_unknown_reference_is_a_load_and_lint_error_with_its_line(few_kb_dir: Path) -> None:
    kb_dir = few_kb_dir
    path = kb_dir / "entries" / "h1b" / "h1b-100k-one-time.yaml"
    text = path.read_text(encoding="utf-8").replace("ref: h1b-100k-in-court", "ref: no-such-caveat")
    path.write_text(text, encoding="utf-8")
    line = text.splitlines().index("  - ref: no-such-caveat") + 1
    with pytest.raises(KnowledgeError) as info:
        load_knowledge_base(kb_dir)
    assert (
        f"h1b-100k-one-time.yaml:{line}: caveats.1: Value error, unknown shared caveat 'no-such-caveat'"
        in str(info.value)
    )
    _, lint_problems = lint_folder(kb_dir)
    assert any("unknown shared caveat 'no-such-caveat'" in p.message for p in lint_problems)


def test_the_fingerprint_is_taken_over_the_resolved_english(kb_dir: Path) -> None:
    """Citing a shared caveat whose text is the entry's own leaves the translation in step;
    editing the shared text puts every translation citing it out of step."""
    base = load_knowledge_base(DEFAULT_KNOWLEDGE_DIR)
    entry = base.get("h1b-100k-who-pays")
    assert entry is not None
    literal = entry_to_yaml(entry, shared=SharedCaveats())  # no table: every caveat written out
    assert "ref:" not in literal
    written, _ = parse_entry_text(literal, ONE_TIME)
    assert written is not None and fingerprint(written) == fingerprint(entry)
    zh = base.chinese["h1b-100k-who-pays"]
    assert shipped_caveats()["h1b-100k-in-court"].zh in zh.caveats  # the Chinese cites it too
    assert check_entry(entry, zh, base.shared) == []

    shared = yaml.safe_load((DEFAULT_KNOWLEDGE_DIR / "caveats.yaml").read_text(encoding="utf-8"))
    shared["h1b-100k-in-court"]["en"] += " A new ruling."
    (kb_dir / "caveats.yaml").write_text(
        yaml.safe_dump(shared, allow_unicode=True), encoding="utf-8"
    )
    edited = load_knowledge_base(kb_dir)
    moved = edited.get("h1b-100k-who-pays")
    assert moved is not None and moved.caveats[2].endswith("A new ruling.")
    assert any(
        "English changed" in p.message
        for p in check_entry(moved, edited.chinese[moved.id], edited.shared)
    )


def test_a_chinese_list_out_of_line_with_the_shared_caveats_is_reported(tmp_path: Path) -> None:
    """The Chinese citing a shared caveat at another place than the English is an error."""
    base = load_knowledge_base(DEFAULT_KNOWLEDGE_DIR)
    entry = base.get("h1b-100k-who-pays")
    assert entry is not None
    source = (DEFAULT_KNOWLEDGE_DIR / "zh" / "h1b-100k-who-pays.yaml").read_text(encoding="utf-8")
    swapped = source.replace("ref: h1b-100k-in-court", "ref: TMP").replace(
        "ref: h1b-100k-term", "ref: h1b-100k-in-court"
    )
    (tmp_path / "zh").mkdir()
    (tmp_path / "zh" / "h1b-100k-who-pays.yaml").write_text(
        swapped.replace("ref: TMP", "ref: h1b-100k-term"), encoding="utf-8"
    )
    texts, problems = load_chinese(tmp_path)
    assert problems == []
    found = [p.message for p in check_entry(entry, texts[entry.id], base.shared)]
    assert "Chinese caveat 3 is shared caveat 'h1b-100k-term', the English one is not" in found


def test_an_edit_saved_from_telegram_or_the_cli_keeps_the_references(kb_dir: Path) -> None:
    base: KnowledgeBase = load_knowledge_base(kb_dir)
    entry = base.get("h1b-100k-who-pays")
    assert entry is not None
    update_entry(
        kb_dir,
        entry.model_copy(update={"alternates": [*entry.alternates, "who foots the 100k bill"]}),
    )
    text = (kb_dir / "entries" / "h1b" / "h1b-100k-who-pays.yaml").read_text(encoding="utf-8")
    assert "  - ref: h1b-100k-in-court\n  - ref: h1b-100k-term\n" in text


def test_a_broken_shared_caveat_is_reported_and_only_its_citers_are_left_out(kb_dir: Path) -> None:
    shared = yaml.safe_load((DEFAULT_KNOWLEDGE_DIR / "caveats.yaml").read_text(encoding="utf-8"))
    del shared["h1b-100k-in-court"]["zh"]
    (kb_dir / "caveats.yaml").write_text(
        yaml.safe_dump(shared, allow_unicode=True), encoding="utf-8"
    )
    with pytest.raises(KnowledgeError) as info:
        load_knowledge_base(kb_dir)
    assert "caveats.yaml: h1b-100k-in-court" in str(info.value)
    lenient = load_knowledge_base(kb_dir, skip_invalid=True)
    assert lenient.get("h1b-100k-who-pays") is None  # cites it: left out, reported
    assert lenient.get("k-visa-what-is-it") is not None  # the rest is served
    assert any("caveats.yaml" in str(p) for p in lenient.skipped)
