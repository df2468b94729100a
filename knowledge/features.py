"""The feature stage: a few numbers per candidate entry that the decision model weighs.

Each feature is a plain, named quantity a maintainer can read off a question (`visabot kb why`):

- lexical, lexical_margin: the lexical score (0-1) and its lead over the best other candidate;
- semantic, semantic_margin: the same for meaning (cosine of static embeddings);
- lead: the smaller of its two leads (lexical_margin, semantic_margin): positive only when both
  independent signals put the entry first, and only as large as the less clear of them;
- topic_agreement: +1 the question names the entry's visa, -1 it names only the other one (or only
  somewhere we do not cover), 0 neither (knowledge/scope.py);
- elsewhere: the question names a place or visa we do not cover, and neither our visas nor China;
- coverage: share of the question's weight in words the entry's phrasings ever use;
- anchor_lack: share of the entry's anchors ("100k", "h4") the question lacks;
- marker_miss: share of the question's marker words (anchors of any entry) the entry never uses;
- unknown_share: share of the question's weight in words the knowledge base has never seen;
- answer_coverage, answer_semantic: the same two measures against the entry's answer text,
  which uses the words of people who know the rules ("beneficiary", "consular notification");
- length: content words, scaled (1 at 20 or more): long stories score lower on every measure;
- vague: one plain word ("visa") is too little to answer on;
- bayes, bayes_first, bayes_margin: the entry's naive-Bayes posterior (knowledge/bayes.py), whether
  it is the posterior's first choice, and its lead over the best other entry (negative when behind).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from knowledge.lexical import LexicalIndex
from knowledge.model import Topic
from knowledge.scope import Signals

FEATURES = (
    "lexical",
    "lexical_margin",
    "semantic",
    "semantic_margin",
    "lead",
    "topic_agreement",
    "elsewhere",
    "coverage",
    "anchor_lack",
    "marker_miss",
    "unknown_share",
    "answer_coverage",
    "answer_semantic",
    "length",
    "vague",
    "bayes",
    "bayes_first",
    "bayes_margin",
)
CANDIDATES_PER_SIGNAL = 8  # leading entries taken from each of the lexical and semantic rankings
LONG_QUESTION_WORDS = 20


@dataclass(frozen=True)
class Question:
    """A question after normalisation: what every stage reads."""

    raw: str
    canonical: str  # normalised words, synonyms applied, Chinese split into characters
    tokens: tuple[str, ...]  # content tokens (stopwords dropped, stemmed, deduplicated)
    signals: Signals


def candidates(
    lexical: np.ndarray, semantic: np.ndarray, k: int = CANDIDATES_PER_SIGNAL
) -> list[int]:
    """Entries worth weighing: the k best by each signal (lexical first), each once."""
    picked: dict[int, None] = {}
    for scores in (lexical, semantic):
        n = min(k, len(scores))
        if not n:
            continue
        top = np.argpartition(-scores, n - 1)[:n]
        for i in top[np.argsort(-scores[top], kind="stable")].tolist():
            if scores[i] > 0:
                picked.setdefault(i, None)
    return list(picked)


def _margins(values: np.ndarray) -> np.ndarray:
    """Each value's lead over the best of the others."""
    if len(values) < 2:
        return values.copy()
    order = np.argsort(-values, kind="stable")
    best, second = values[order[0]], values[order[1]]
    margins: np.ndarray = values - np.where(np.arange(len(values)) == order[0], second, best)
    return margins


def feature_matrix(
    question: Question,
    entries: Sequence[int],
    topics: Sequence[Topic],
    lexical: np.ndarray,
    semantic: np.ndarray,
    index: LexicalIndex,
    answer_words: Callable[[int], frozenset[str]],
    answer_semantic: np.ndarray,
    bayes: np.ndarray,
) -> np.ndarray:
    """One row of FEATURES per candidate entry (entry indices into the knowledge base).
    `answer_words(entry)` gives the content tokens of an entry's answer; `answer_semantic` the
    question's closeness to each candidate's answer, in candidate order; `bayes` the naive-Bayes
    posterior over every entry."""
    rows = np.zeros((len(entries), len(FEATURES)))
    if not len(entries):
        return rows
    lex = lexical[list(entries)] / 100.0
    sem = semantic[list(entries)].astype(np.float64)
    weights = [index.weight(t) for t in question.tokens]
    total = sum(weights) or 1.0
    known = [{tid for tid, _ in index.known(t)} for t in question.tokens]
    spellings = [{t} | {index.token(tid) for tid in ids} for t, ids in zip(question.tokens, known)]
    unknown = sum(w for w, ids in zip(weights, known) if not ids) / total
    present = set().union(*known) if known else set()
    markers = [(w, ids) for w, ids in zip(weights, known) if any(index.is_anchor(t) for t in ids)]
    marker_total = sum(w for w, _ in markers)
    sole = len(question.tokens) == 1 and index.sole_entry(question.tokens[0]) is not None
    vague = float(len(question.tokens) <= 1 and not sole)
    signals = question.signals
    elsewhere = float(signals.elsewhere and not (signals.names_ours or signals.china))
    length = min(len(question.tokens), LONG_QUESTION_WORDS) / LONG_QUESTION_WORDS
    rows[:, 0], rows[:, 1] = lex, _margins(lex)
    rows[:, 2], rows[:, 3] = sem, _margins(sem)
    rows[:, 4] = np.minimum(rows[:, 1], rows[:, 3])
    posterior = bayes[list(entries)]
    rows[:, 15] = posterior
    if bayes.any():
        runner_up, first = np.partition(bayes, -2)[-2:] if len(bayes) > 1 else (0.0, bayes[0])
        rows[:, 16] = posterior >= first
        rows[:, 17] = posterior - np.where(posterior >= first, runner_up, first)
    for row, (entry, topic) in enumerate(zip(entries, topics)):
        vocabulary = set(index.vocabulary(entry).tolist())
        covered = sum(w for w, ids in zip(weights, known) if ids & vocabulary)
        anchors = index.anchors(entry).tolist()
        anchor_weight = sum(index.idf(a) for a in anchors)
        lacking = sum(index.idf(a) for a in anchors if a not in present)
        missed = sum(w for w, ids in markers if not ids & vocabulary)
        in_answer = answer_words(entry)
        answered = sum(w for w, words in zip(weights, spellings) if words & in_answer)
        rows[row, 5] = question.signals.topic_agreement(topic)
        rows[row, 6] = elsewhere
        rows[row, 7] = covered / total
        rows[row, 8] = lacking / anchor_weight if anchor_weight else 0.0
        rows[row, 9] = missed / marker_total if marker_total else 0.0
        rows[row, 10] = unknown
        rows[row, 11] = answered / total
        rows[row, 12] = answer_semantic[row]
        rows[row, 13] = length
        rows[row, 14] = vague
    return rows
