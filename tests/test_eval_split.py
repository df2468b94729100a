"""The locked test half of the real questions stays locked: no question of it may appear in an
entry, in the synonyms or scope vocabulary, in the train half, or in the project's code and docs;
and the halves share no source site. Calibration must never read it.

The validation set (eval/real/validation.yaml) is kept apart the same way, except that calibration
reads it: its questions must look to the matcher like a stranger's, so nothing may be written from
them either (knowledge/calibration.py chooses the thresholds on them)."""

from __future__ import annotations

import re
import subprocess
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from rapidfuzz import fuzz, process

from knowledge.calibration import TRAINING_SETS
from knowledge.evaluation import load_eval_items
from knowledge.loader import KnowledgeBase
from knowledge.matcher import Matcher

REPO = Path(__file__).resolve().parents[1]
REAL = REPO / "eval" / "real"
TEST_HALF = REAL / "test.yaml"
VALIDATION = REAL / "validation.yaml"
REPORT = REPO / "bench" / "RESULTS.md"
MIN_QUOTE_CHARS = 24  # shorter strings ("what is the k visa") may coincide honestly
NEAR_COPY = 95  # rapidfuzz ratio (0-100) of canonical texts at which a phrasing copies a question
NEAR_COPY_MIN_CHARS = 20


def _key(text: str) -> str:
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text).lower())


@pytest.fixture(scope="module")
def test_keys() -> list[str]:
    """The questions nothing may be written from: the locked test half and the validation set."""
    protected = load_eval_items(TEST_HALF) + load_eval_items(VALIDATION)
    return [_key(item.question) for item in protected]


def test_corpus_size_and_shape() -> None:
    train, test = load_eval_items(REAL / "train.yaml"), load_eval_items(TEST_HALF)
    items = train + test
    assert len(items) >= 400
    assert sum(i.decline_reason == "out-of-scope" for i in items) >= 60
    assert all(i.url.startswith("http") and i.site and i.lang for i in items)
    assert all(len(i.question) <= 300 for i in items)
    assert abs(len(train) - len(test)) <= 0.2 * len(items)


def test_halves_share_no_site() -> None:
    train = {i.site for i in load_eval_items(REAL / "train.yaml")}
    test = {i.site for i in load_eval_items(TEST_HALF)}
    validation = {i.site for i in load_eval_items(VALIDATION)}
    assert not train & test
    assert not validation & (train | test)


def test_validation_set_is_real_and_labelled() -> None:
    items = load_eval_items(VALIDATION)
    assert len(items) >= 100
    assert all(i.url.startswith("http") and i.site and i.lang for i in items)
    assert all(len(i.question) <= 300 for i in items)
    assert all(i.expect_ids or i.decline_reason for i in items)
    keys = [_key(i.question) for i in items]
    assert len(set(keys)) == len(keys)


def test_no_test_question_in_the_train_half(test_keys: list[str]) -> None:
    train = {_key(i.question) for i in load_eval_items(REAL / "train.yaml")}
    assert not set(test_keys) & train


def test_no_test_question_in_entries(shipped_kb: KnowledgeBase, test_keys: list[str]) -> None:
    texts = [
        _key(text)
        for entry in shipped_kb.entries
        for text in (
            entry.question,
            *entry.alternates,
            *entry.keywords,
            entry.answer,
            *entry.caveats,
        )
    ]
    leaked = [
        k for k in test_keys if any(k == t or (len(k) >= MIN_QUOTE_CHARS and k in t) for t in texts)
    ]
    assert not leaked


def test_no_protected_question_is_an_entrys_own_phrasing(matcher: Matcher) -> None:
    """The matcher answers an entry's own phrasing without asking its model (OwnPhrasings), so a
    test or validation question that normalises to one would be answered by fiat, not measured.
    Compared as the matcher compares: after synonyms, stopwords and Chinese splitting, which the
    raw-text check above does not see."""
    protected = load_eval_items(TEST_HALF) + load_eval_items(VALIDATION)
    owners = [
        matcher.own_phrasings.owner(matcher.question(item.question).canonical) for item in protected
    ]
    # Only counts and entry ids are shown: the questions themselves must not be quoted.
    leaked = sorted(matcher.base.entries[o].id for o in owners if o is not None)
    assert not leaked, f"{len(leaked)} protected questions are own phrasings of {leaked}"


def test_no_entry_phrasing_is_a_near_copy_of_a_protected_question(matcher: Matcher) -> None:
    """A phrasing copied from a test or validation question with a word or two changed escapes
    the exact checks above but would still measure recall, not understanding. Short generic
    questions legitimately come close (a ratio of up to ~91 today), so only near-identical texts
    fail."""
    protected = load_eval_items(TEST_HALF) + load_eval_items(VALIDATION)
    asked = [matcher.question(item.question).canonical for item in protected]
    phrasings = [
        (entry.id, canonical)
        for entry in matcher.base.entries
        for text in (entry.question, *entry.alternates)
        if len(canonical := matcher.question(text).canonical) >= NEAR_COPY_MIN_CHARS
    ]
    similarity = process.cdist([c for _, c in phrasings], asked, scorer=fuzz.ratio)
    # Only entry ids are shown: the questions themselves must not be quoted.
    copied = sorted({phrasings[i][0] for i in np.where(similarity.max(axis=1) >= NEAR_COPY)[0]})
    assert not copied, f"phrasings of {copied} nearly copy protected questions"


def test_no_test_question_in_vocabulary_code_or_docs(test_keys: list[str]) -> None:
    """Synonyms, scope words, the decision model, code, docs: none may quote a test question."""
    files = [
        p
        for p in REPO.rglob("*")
        if p.is_file()
        and p.suffix in {".py", ".yaml", ".md", ".toml", ".txt"}
        and ".venv" not in p.parts
        and ".git" not in p.parts
        and p.parent != REAL  # the three question files and the split script are checked above
        and p != REPORT  # the benchmark report must list the test half's misses
    ]
    quoted = {
        str(p.relative_to(REPO)): k
        for p in files
        for text in [_key(p.read_text(encoding="utf-8", errors="replace"))]
        for k in test_keys
        if len(k) >= MIN_QUOTE_CHARS and k in text
    }
    assert not quoted


def test_no_test_question_in_commit_messages(test_keys: list[str]) -> None:
    log = subprocess.run(
        ["git", "log", "--format=%B"], cwd=REPO, capture_output=True, text=True, check=True
    )
    messages = _key(log.stdout)
    assert not [k for k in test_keys if len(k) >= MIN_QUOTE_CHARS and k in messages]


def test_calibration_never_reads_the_test_half() -> None:
    assert all("test" not in name for name, _ in TRAINING_SETS)
    assert "real/validation.yaml" in {name for name, _ in TRAINING_SETS}
    assert load_eval_items(VALIDATION), "the validation set is empty"
