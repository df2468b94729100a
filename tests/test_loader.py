"""The loader names the file and line of every problem and never lets a bad entry through."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from knowledge import DEFAULT_KNOWLEDGE_DIR
from knowledge.entry_file import SafeLoader, safe_load
from knowledge.loader import KnowledgeError, load_knowledge_base, parse_entry_text

EVAL = Path(__file__).resolve().parents[1] / "eval"
GOOD = (DEFAULT_KNOWLEDGE_DIR / "entries" / "h1b" / "h1b-100k-one-time.yaml").read_text(
    encoding="utf-8"
)


def make_kb(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / "entries" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def without_related(text: str) -> str:
    head, _, tail = text.partition("related:\n")
    rest = tail.split("history:", 1)[1]
    return head + "related: []\nhistory:" + rest


def test_good_entry_parses() -> None:
    entry, problems = parse_entry_text(GOOD, Path("x.yaml"))
    assert problems == []
    assert entry is not None and entry.id == "h1b-100k-one-time"
    assert entry.history and entry.history[0].date.isoformat() == "2025-09-19"


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    root = make_kb(tmp_path, {"h1b/bad.yaml": "id: bad\nquestion: [unclosed\nanswer: x\n"})
    with pytest.raises(KnowledgeError) as info:
        load_knowledge_base(root)
    (problem,) = info.value.problems
    assert problem.path.name == "bad.yaml"
    assert problem.line is not None and problem.line >= 2
    assert "malformed YAML" in problem.message


def test_a_key_given_twice_is_an_error_with_both_lines(tmp_path: Path) -> None:
    text = without_related(GOOD)
    text += "question: A second question that YAML would silently keep\n"
    root = make_kb(tmp_path, {"h1b/h1b-100k-one-time.yaml": text})
    (root / "synonyms.yaml").write_text(
        "who:\n  - kaun\nfee:\n  - fees\nwho:\n  - 谁\n", encoding="utf-8"
    )
    with pytest.raises(KnowledgeError) as info:
        load_knowledge_base(root)
    by_file = {p.path.name: p for p in info.value.problems}
    entry, synonyms = by_file["h1b-100k-one-time.yaml"], by_file["synonyms.yaml"]
    assert "duplicate key 'question' (first given on line 3)" in entry.message
    assert entry.line == len(text.splitlines())
    assert "duplicate key 'who' (first given on line 1)" in synonyms.message and synonyms.line == 5


def test_schema_errors_point_at_the_field_line(tmp_path: Path) -> None:
    text = without_related(GOOD).replace(
        "url: https://www.adamsandreese.com", "url: ftp://www.adamsandreese.com"
    )
    root = make_kb(tmp_path, {"h1b/h1b-100k-one-time.yaml": text})
    with pytest.raises(KnowledgeError) as info:
        load_knowledge_base(root)
    (problem,) = info.value.problems
    assert "sources.0.url" in problem.message
    assert (
        problem.line
        == text.splitlines().index(next(line for line in text.splitlines() if "ftp://" in line)) + 1
    )


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        (lambda t: t.replace("status: reported", "status: rumour"), "status"),
        (lambda t: t.replace("answer: >-", "answer: >-\n  " + "x" * 901 + "\n ", 1), "answer"),
        (lambda t: t.replace("as_of: 2026-07-01", "as_of: 2026-13-01"), "as_of"),
        (lambda t: t.replace("topic: h1b", "topic: schengen"), "topic"),
        (lambda t: t.replace("review_after_days: 30", "review_after_days: 0"), "review_after_days"),
    ],
)
def test_invalid_fields_are_reported(mutation, expected: str) -> None:  # type: ignore[no-untyped-def]
    _, problems = parse_entry_text(mutation(without_related(GOOD)), Path("e.yaml"))
    assert problems and any(p.message.startswith(expected) for p in problems), problems


def test_duplicate_ids_and_broken_related_and_wrong_folder(tmp_path: Path) -> None:
    root = make_kb(
        tmp_path,
        {
            "h1b/h1b-100k-one-time.yaml": GOOD,
            "k-visa/h1b-100k-one-time.yaml": GOOD,
        },
    )
    with pytest.raises(KnowledgeError) as info:
        load_knowledge_base(root)
    messages = "\n".join(str(p) for p in info.value.problems)
    assert "duplicate id 'h1b-100k-one-time'" in messages
    assert "related id 'h1b-100k-fee-amount' does not exist" in messages


def test_entry_must_be_a_mapping(tmp_path: Path) -> None:
    _, problems = parse_entry_text("- just\n- a list\n", Path("l.yaml"))
    assert problems and "mapping" in problems[0].message


def test_shipped_copy_loads(tmp_path: Path) -> None:
    shutil.copytree(DEFAULT_KNOWLEDGE_DIR / "entries", tmp_path / "entries")
    base = load_knowledge_base(tmp_path)
    assert len(base.entries) >= 90


def test_the_c_parser_reads_every_shipped_translation_and_table_as_safe_load_does() -> None:
    """The Chinese files, the tables read at every load (shared caveats, scope vocabulary,
    decision model) and the question files are parsed by libyaml for speed
    (knowledge/entry_file.py): it must give exactly what PyYAML's own safe_load gives."""
    assert issubclass(SafeLoader, yaml.CSafeLoader)  # PyYAML was built with libyaml
    tables = [DEFAULT_KNOWLEDGE_DIR / f"{name}.yaml" for name in ("caveats", "scope", "decision")]
    questions = [EVAL / "dev.yaml", EVAL / "regression.yaml", EVAL / "real" / "train.yaml"]
    paths = [*tables, *questions, *(DEFAULT_KNOWLEDGE_DIR / "zh").glob("*.yaml")]
    assert len(paths) > 100
    for path in paths:
        text = path.read_text(encoding="utf-8")
        assert safe_load(text) == yaml.safe_load(text), path


def test_an_unchanged_file_is_not_parsed_again_and_a_changed_one_is(few_kb_dir: Path) -> None:
    """Every /reload, save and `kb` command reads the whole base: an unchanged entry or
    translation is reused (entries are immutable), never one whose text, or the text of a shared
    caveat it cites, has changed."""
    first = load_knowledge_base(few_kb_dir)
    again = load_knowledge_base(few_kb_dir)
    assert again.get("h1b-cap") is first.get("h1b-cap")
    assert again.chinese["h1b-cap"] is first.chinese["h1b-cap"]
    path = few_kb_dir / "entries" / "h1b" / "h1b-cap.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")  # same content
    assert load_knowledge_base(few_kb_dir).get("h1b-cap") == first.get("h1b-cap")
    old = first.shared["h1b-100k-in-court"].en
    table = (DEFAULT_KNOWLEDGE_DIR / "caveats.yaml").read_text(encoding="utf-8")
    (few_kb_dir / "caveats.yaml").write_text(table.replace(old, "Now settled."), encoding="utf-8")
    edited = load_knowledge_base(few_kb_dir)
    one_time = edited.get("h1b-100k-one-time")
    assert one_time is not None and "Now settled." in one_time.caveats
    assert old not in one_time.caveats


def test_a_copy_elsewhere_reuses_the_parse_and_its_problems_name_their_own_file(
    tmp_path: Path,
) -> None:
    text = (DEFAULT_KNOWLEDGE_DIR / "entries" / "h1b" / "h1b-cap.yaml").read_text(encoding="utf-8")
    first, problems = parse_entry_text(text, tmp_path / "a" / "h1b-cap.yaml")
    again, _ = parse_entry_text(text, tmp_path / "b" / "h1b-cap.yaml")
    assert problems == [] and again is first
    broken = text.replace("topic: h1b", "topic: mars")
    for folder in ("a", "b"):
        path = tmp_path / folder / "h1b-cap.yaml"
        entry, problems = parse_entry_text(broken, path)
        assert entry is None and problems and all(p.path == path for p in problems)
