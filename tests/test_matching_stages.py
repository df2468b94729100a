"""Each stage of the matcher alone: scope signals, candidates, features, the decision model, the
semantic signal. Small inputs whose right answers can be worked out by hand."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from knowledge.decision import DecisionModel, Thresholds, fit_logistic
from knowledge.features import FEATURES, Question, _margins, candidates, feature_matrix
from knowledge.lexical import LexicalIndex
from knowledge.loader import KnowledgeBase
from knowledge.model import Topic
from knowledge.normalize import Normalizer, split_canonical
from knowledge.scope import Scope, Signals, SmallTalk, load_scope_vocabulary
from knowledge.semantic import StaticEmbedder

SHIPPED = Path(__file__).resolve().parents[1] / "knowledge"


@pytest.fixture(scope="module")
def scope(shipped_kb: KnowledgeBase) -> Scope:
    return Scope(load_scope_vocabulary(SHIPPED), Normalizer(shipped_kb.synonyms))


def _signals(scope: Scope, norm: Normalizer, text: str) -> Signals:
    return scope.signals(norm.canonical(text), text)


# ---------------------------------------------------------------- normalise


def test_chinese_runs_become_two_character_words() -> None:
    assert split_canonical("学士学位 bachelor") == ["学士", "士学", "学位", "bachelor"]
    # function characters split runs; a character left alone stays a word
    assert split_canonical("签证的费用") == ["签证", "费用"]
    assert split_canonical("钱") == ["钱"]


def test_traditional_chinese_is_folded_to_simplified(shipped_kb: KnowledgeBase) -> None:
    norm = Normalizer(shipped_kb.synonyms)
    assert norm.canonical("K字簽證申請") == norm.canonical("K字签证申请")


# ---------------------------------------------------------------- scope


def test_signals_read_visa_names_and_places(scope: Scope, shipped_kb: KnowledgeBase) -> None:
    norm = Normalizer(shipped_kb.synonyms)
    assert _signals(scope, norm, "H-1B fee").h1b
    assert _signals(scope, norm, "K字签证").k_visa
    assert _signals(scope, norm, "Schengen visa for Indians").elsewhere
    assert _signals(scope, norm, "k1 visa for my fiancee").elsewhere
    young = _signals(scope, norm, "China's new visa for young scientists")
    assert young.china and young.k_traits and not young.k_visa


def test_us_counts_as_written_not_as_the_pronoun(scope: Scope, shipped_kb: KnowledgeBase) -> None:
    norm = Normalizer(shipped_kb.synonyms)
    assert not _signals(scope, norm, "can they send us to china").us
    assert _signals(scope, norm, "permanent residence in the US").us
    assert _signals(scope, norm, "美国工作签证").us


@pytest.mark.parametrize(
    ("signals", "topic", "expected"),
    [
        (Signals(h1b=True), Topic.H1B, 1.0),
        (Signals(h1b=True), Topic.K_VISA, -1.0),
        (Signals(k_visa=True), Topic.H1B, -1.0),
        (Signals(china=True, k_traits=True), Topic.K_VISA, 1.0),
        (Signals(us=True), Topic.K_VISA, -1.0),
        (Signals(h1b=True, k_visa=True), Topic.COMPARE, 1.0),
        (Signals(k_visa=True), Topic.COMPARE, 0.0),
        (Signals(k_visa=True, comparing=True), Topic.COMPARE, 0.5),
        (Signals(elsewhere=True), Topic.CONTEXT, -1.0),
        (Signals(), Topic.K_VISA, 0.0),
    ],
)
def test_topic_agreement(signals: Signals, topic: Topic, expected: float) -> None:
    assert signals.topic_agreement(topic) == expected


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("hello", SmallTalk.GREETING),
        ("Hi there!", SmallTalk.GREETING),
        ("thanks!", SmallTalk.THANKS),
        ("谢谢", SmallTalk.THANKS),
        ("who are you?", SmallTalk.IDENTITY),
        ("hi, is the h1b fee annual?", None),
        ("thanks, and what about the k visa age limit", None),
        ("", None),
    ],
)
def test_smalltalk_only_when_nothing_else_is_said(
    scope: Scope, text: str, kind: SmallTalk | None
) -> None:
    assert scope.smalltalk(text) is kind


# ---------------------------------------------------------------- candidates and features


def test_candidates_take_the_leaders_of_both_signals_once() -> None:
    lexical = np.array([0.0, 90.0, 10.0, 50.0])
    semantic = np.array([0.9, 0.8, 0.0, 0.1])
    assert candidates(lexical, semantic, k=2) == [1, 3, 0]


def test_margins_are_leads_over_the_best_other() -> None:
    assert _margins(np.array([0.9, 0.5, 0.7])).round(2).tolist() == [0.2, -0.4, -0.2]


def test_feature_matrix_on_a_tiny_index(shipped_kb: KnowledgeBase) -> None:
    entries = [shipped_kb.by_id["h1b-h4-ead"], shipped_kb.by_id["k-visa-age-limit"]]
    norm = Normalizer(shipped_kb.synonyms)
    index = LexicalIndex(entries, norm)
    canonical = " ".join(norm.tokens("can my h4 spouse work"))
    question = Question(
        "can my h4 spouse work",
        canonical,
        tuple(norm.content_tokens("can my h4 spouse work")),
        Signals(h1b=True),
    )
    lexical = index.scores(question.tokens, question.canonical)
    rows = feature_matrix(
        question,
        [0, 1],
        [Topic.H1B, Topic.K_VISA],
        lexical,
        np.array([0.8, 0.3]),
        index,
        lambda i: frozenset(norm.content_tokens(entries[i].answer)),
        np.array([0.7, 0.2]),
    )
    f = {name: rows[:, n] for n, name in enumerate(FEATURES)}
    assert f["lexical"][0] > f["lexical"][1]
    assert f["lead"][0] == pytest.approx(min(f["lexical_margin"][0], f["semantic_margin"][0]))
    assert f["lead"][0] > 0 > f["lead"][1]
    assert f["topic_agreement"].tolist() == [1.0, -1.0]
    assert f["coverage"][0] == pytest.approx(1.0)
    assert f["vague"].tolist() == [0.0, 0.0]


# ---------------------------------------------------------------- decide


def test_fit_logistic_separates_what_is_separable() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(400, 2))
    y = (x[:, 0] - 0.5 * x[:, 1] > 0).astype(float)
    weights, bias = fit_logistic(x, y, np.ones(len(y)), l2=0.1)
    predicted = (x @ weights + bias > 0).astype(float)
    assert (predicted == y).mean() > 0.97
    assert weights[0] > 0 > weights[1]


def test_decision_model_round_trips_and_rejects_bad_files(tmp_path: Path) -> None:
    model = DecisionModel(
        tuple(float(i) for i in range(len(FEATURES))), -1.5, Thresholds(0.6, 0.4, 0.2)
    )
    path = tmp_path / "decision.yaml"
    model.dump(path, "test model")
    assert DecisionModel.load(path).weights == model.weights
    path.write_text(path.read_text().replace("vague", "vagueness"))
    with pytest.raises(ValueError, match="weights do not match"):
        DecisionModel.load(path)
    bad = tmp_path / "bad.yaml"
    model.dump(bad, "x")
    bad.write_text(bad.read_text().replace("answer: 0.6", "answer: 0.1"))
    with pytest.raises(ValueError, match="thresholds"):
        DecisionModel.load(bad)


def test_probabilities_follow_the_weights() -> None:
    weights = [0.0] * len(FEATURES)
    weights[FEATURES.index("lexical")] = 10.0
    model = DecisionModel(tuple(weights), -5.0, Thresholds(0.6, 0.4, 0.2))
    rows = np.zeros((2, len(FEATURES)))
    rows[0, FEATURES.index("lexical")] = 1.0
    p = model.probabilities(rows)
    assert p[0] == pytest.approx(1 / (1 + np.exp(-5)))
    assert p[1] == pytest.approx(1 / (1 + np.exp(5)))


# ---------------------------------------------------------------- semantic


def test_static_embeddings_load_offline_and_rank_meaning() -> None:
    embedder = StaticEmbedder.shipped()
    a, b, c = embedder.embed(
        ["my husband wants to work", "can my spouse get a job", "weather in beijing"]
    )
    assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-5)
    assert a @ b > a @ c
    assert not embedder.embed([""]).any()


def test_large_bases_compare_entry_means_first_then_refine_candidates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from knowledge import semantic

    texts = [
        "my spouse wants to work",
        "can my husband get a job",
        "weather in beijing",
        "rain in beijing",
    ]
    owners = np.array([0, 0, 1, 1], dtype=np.int32)
    embedder = StaticEmbedder.shipped()
    exact = semantic.SemanticIndex(embedder, texts, owners, 2)
    monkeypatch.setattr(semantic, "EXACT_UP_TO", 2)
    large = semantic.SemanticIndex(embedder, texts, owners, 2)
    query = embedder.embed(["can my wife work"])[0]
    rough = large.similarities(query)
    assert rough[0] > rough[1]  # the mean vectors still rank the entries
    assert not np.allclose(rough, exact.similarities(query))
    assert np.allclose(large.refined(query, [0, 1], rough), exact.similarities(query), atol=1e-6)


def test_numpy_runs_one_blas_thread_even_when_bot_storage_loads_it() -> None:
    """knowledge/__init__.py limits OpenBLAS to one thread before numpy loads (two spin against
    each other on a busy machine: ~7x the CPU per question); sqlite-utils loads numpy too, so
    `bot` imports `knowledge` first. Counted in a fresh interpreter: OpenBLAS starts its extra
    threads when numpy loads."""
    code = (
        "import os, sys, bot.storage\n"
        "assert 'numpy' in sys.modules\n"
        "print(len(os.listdir('/proc/self/task')))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "1"
