"""Match a user's message to the entry that answers it, or decline — in four named stages:

1. normalise (`Matcher.question`): fold the text (NFKC, case, traditional → simplified Chinese),
   apply the curated synonyms, read the scope signals (knowledge/scope.py, vocabulary in
   scope.yaml);
2. candidates (features.candidates): the leading entries by the lexical score
   (knowledge/lexical.py) and by meaning (knowledge/semantic.py);
3. features (features.feature_matrix): eighteen named numbers per candidate, among them a
   naive-Bayes posterior (knowledge/bayes.py);
4. decide (knowledge/decision.py): a logistic model calibrated on real questions gives each
   candidate a probability; thresholds from the same calibration choose the outcome. A message
   written exactly as an entry's question or alternate is answered with it (OwnPhrasings).

Around the stages: small talk ("hello", "thanks") is recognised before matching; a compound
question ("is the fee annual? and what is the k visa age limit?") is answered part by part when
each part has its own confident answer; a short follow-up is read with the previous answer as
context. Wrongly declining is cheaper than wrongly answering: the thresholds are chosen so.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np

from knowledge import DEFAULT_KNOWLEDGE_DIR
from knowledge.bayes import TermBayes
from knowledge.decision import DECISION_FILENAME, DecisionModel
from knowledge.features import FEATURES, Question, candidates, feature_matrix
from knowledge.lexical import LexicalIndex
from knowledge.loader import KnowledgeBase
from knowledge.model import Entry, Topic
from knowledge.normalize import (
    MAX_QUERY_CHARS,
    MAX_WORD_CHARS,
    QUESTION_WORDS,
    content_of,
    normalizer_for,
    split_canonical,
)
from knowledge.scope import Scope, SmallTalk, load_scope_vocabulary
from knowledge.semantic import SemanticIndex, StaticEmbedder, embed_cached

MAX_CHOICES = 3
ANSWER_CACHE_SIZE = 4096  # entries whose answer words are remembered
# Two candidates this close in probability are a tie: picking one would be a coin toss, so the
# user chooses ("did you mean"). Maintainers meet it as lint's [conflict] finding.
TIE = 0.02
FOLLOWUP_MAX_WORDS = 8  # a longer message stands on its own
# Where a message splits into separate questions: question marks, semicolons, and "and also".
_PART_SPLIT_RE = re.compile(r"[?？;；。]+|\b(?:and also|also|plus)\b|另外|还有|以及")
MIN_PART_WORDS = 2
# At most this many parts are weighed, the last ones: a compound question asks two things, and a
# long story puts its questions at the end. Each part is a whole ranking (about 1 ms); a story of
# eight sentences was the slowest message there is.
MAX_PARTS = 2
_TOPIC_AGREEMENT = FEATURES.index("topic_agreement")


class Outcome(StrEnum):
    ANSWER = "answer"
    CLARIFY = "clarify"
    DECLINE = "decline"
    SMALLTALK = "smalltalk"


@dataclass(frozen=True)
class Candidate:
    entry: Entry
    score: float  # the decision model's probability, as a percentage


@dataclass(frozen=True)
class MatchResult:
    """What the matcher decided; knows nothing of how it will be shown."""

    query: str
    outcome: Outcome
    entry: Entry | None  # set only for ANSWER
    score: float  # best candidate's probability, 0-100 (0 if nothing matched)
    alternatives: list[Candidate] = field(default_factory=list)  # runners-up worth offering
    also: list[Candidate] = field(default_factory=list)  # other parts of a compound question
    smalltalk: SmallTalk | None = None
    asked_about: Topic | None = None  # the visa the question names (for honest declines)
    followup: bool = False  # answered by reading the previous answer as context

    @property
    def matched(self) -> bool:
        return self.outcome is Outcome.ANSWER


@dataclass(frozen=True)
class _Ranking:
    question: Question
    entries: list[int]  # candidate entry indices, most probable first
    probabilities: np.ndarray
    rows: np.ndarray  # their features, same order

    @property
    def tied(self) -> bool:
        """The first two candidates are too close to choose between (TIE)."""
        p = self.probabilities
        return len(p) > 1 and bool(p[1] >= p[0] - TIE)


class OwnPhrasings:
    """Which entry a message belongs to when it is written exactly as one of that entry's
    questions or alternates (after normalisation): a maintainer who adds an alternate expects it
    answered, whatever the calibration learnt from strangers' questions. A text two entries
    share belongs to neither. Kept as 64-bit hashes, so a large base costs 16 bytes a phrasing."""

    def __init__(self, split_texts: list[str], owners: np.ndarray, asked: np.ndarray):
        """`split_texts`: each phrasing's canonical text split into words as a question's is."""
        keys = np.fromiter((hash(t) for t, a in zip(split_texts, asked) if a), dtype=np.int64)
        own = owners[asked].astype(np.int64)
        order = np.argsort(keys, kind="stable")
        keys, own = keys[order], own[order]
        self._keys, first = np.unique(keys, return_index=True)
        if len(first):
            lowest = np.minimum.reduceat(own, first)
            shared = lowest != np.maximum.reduceat(own, first)
            self._owner = np.where(shared, -1, lowest)
        else:
            self._owner = own

    def owner(self, canonical: str) -> int | None:
        """The entry whose own phrasing `canonical` (a Question's) is, if exactly one."""
        key = hash(canonical)
        at = int(np.searchsorted(self._keys, key))
        if at < len(self._keys) and self._keys[at] == key and self._owner[at] >= 0:
            return int(self._owner[at])
        return None


class Matcher:
    """An index over one knowledge base. Build once; `match` is read-only and thread-safe."""

    def __init__(
        self,
        base: KnowledgeBase,
        model: DecisionModel | None = None,
        knowledge_dir: Path = DEFAULT_KNOWLEDGE_DIR,
    ):
        self.base = base
        self.normalizer = normalizer_for(base.synonyms)
        self.scope = Scope(load_scope_vocabulary(knowledge_dir), self.normalizer)
        self.model = model or DecisionModel.load(knowledge_dir / DECISION_FILENAME)
        self._entries = base.entries
        self.lexical = LexicalIndex(self._entries, self.normalizer)
        self._topics: list[Topic] = []
        answers: list[str] = []
        for entry in self._entries:  # one pass: a large base decodes each entry once here
            self._topics.append(entry.topic)
            answers.append(self.normalizer.canonical(entry.answer))
        texts, owners = self.lexical.phrasings()
        embedder = StaticEmbedder.shipped()
        self.semantic = SemanticIndex(embedder, texts, owners, len(self._entries))
        # Split as questions are (Chinese runs into two-character words), so both see the same words.
        split_texts = [" ".join(split_canonical(t)) for t in texts]
        self.bayes = TermBayes(split_texts, owners, len(self._entries))
        self.own_phrasings = OwnPhrasings(split_texts, owners, self.lexical.asked())
        self._answers = embed_cached(embedder, answers)
        self._answer_words = functools.lru_cache(maxsize=ANSWER_CACHE_SIZE)(self._words_of_answer)

    def __len__(self) -> int:
        return len(self._entries)

    def _words_of_answer(self, entry_index: int) -> frozenset[str]:
        return frozenset(self.normalizer.content_tokens(self._entries[entry_index].answer))

    # ------------------------------------------------------------------ stages

    def question(self, text: str) -> Question:
        """Stage 1: normalise."""
        split = self.normalizer.tokens(text)
        canonical = " ".join(split)
        return Question(
            raw=text[:MAX_QUERY_CHARS],
            canonical=canonical,
            tokens=tuple(content_of(split)),
            signals=self.scope.signals(canonical, text[:MAX_QUERY_CHARS]),
        )

    def rank(self, question: Question) -> _Ranking:
        """Stages 2-4 up to probabilities: candidates, their features, the model's verdict."""
        if all(t in QUESTION_WORDS or (len(t) == 1 and t.isascii()) for t in question.tokens):
            # "who are you", "<b>", "how?": nothing to match on.
            return _Ranking(question, [], np.zeros(0), np.zeros((0, len(FEATURES))))
        lexical = self.lexical.scores(question.tokens, question.canonical)
        # Keyboard noise ("xxxx…") would swamp the mean of the token vectors.
        words = [w for w in question.canonical.split() if len(w) <= MAX_WORD_CHARS]
        query_vector = self.semantic.vector(" ".join(words))
        semantic = self.semantic.similarities(query_vector)
        picked = candidates(lexical, semantic)
        semantic = self.semantic.refined(query_vector, picked, semantic)
        topics = [self._topics[i] for i in picked]
        answer_semantic = self._answers[picked] @ query_vector if picked else np.zeros(0)
        rows = feature_matrix(
            question,
            picked,
            topics,
            lexical,
            semantic,
            self.lexical,
            self._answer_words,
            answer_semantic,
            self.bayes.posterior(question.canonical.split()),
        )
        # A rule outside the model: a question that names one visa (or only a place we do
        # not cover) never gets the other visa's entries, however alike the words.
        keep = rows[:, _TOPIC_AGREEMENT] > -1
        picked, rows = [i for i, k in zip(picked, keep) if k], rows[keep]
        probabilities = self.model.probabilities(rows)
        order = np.argsort(-probabilities, kind="stable")
        return _Ranking(question, [picked[i] for i in order], probabilities[order], rows[order])

    def _decide(self, ranking: _Ranking, limit: int) -> MatchResult:
        """Stage 4: the outcome, from the leading probability and the calibrated thresholds."""
        t = self.model.thresholds
        ranked = self._candidates(ranking)
        asked_about = ranking.question.signals.asked_about
        query = ranking.question.raw
        if not ranked:
            return MatchResult(query, Outcome.DECLINE, None, 0.0, asked_about=asked_about)
        best = ranking.probabilities[0]
        offered = [c for c in ranked if c.score >= t.offer * 100]
        own = self.own_phrasings.owner(ranking.question.canonical)
        if own in ranking.entries:  # asked exactly as the entry's own phrasing
            first = ranked[ranking.entries.index(own)]
            others = [c for c in offered if c.entry.id != first.entry.id]
            return MatchResult(
                query,
                Outcome.ANSWER,
                first.entry,
                first.score,
                others[:limit],
                asked_about=asked_about,
            )
        if best >= t.answer and not ranking.tied:
            return MatchResult(
                query,
                Outcome.ANSWER,
                ranked[0].entry,
                ranked[0].score,
                offered[1 : limit + 1],
                asked_about=asked_about,
            )
        if best >= t.clarify:
            return MatchResult(
                query,
                Outcome.CLARIFY,
                None,
                ranked[0].score,
                offered[:limit],
                asked_about=asked_about,
            )
        return MatchResult(
            query, Outcome.DECLINE, None, ranked[0].score, offered[:limit], asked_about=asked_about
        )

    # ------------------------------------------------------------------ the whole message

    def match(
        self, query: str, limit: int = MAX_CHOICES, context: Entry | None = None
    ) -> MatchResult:
        """The reply to one message. `context` is the entry the user was just answered with: a
        short message is then read as a follow-up to it ("and for the K visa?", "do extensions
        pay again?") when that reading is confident, and more so than the message alone."""
        talk = self.scope.smalltalk(query)
        if talk is not None:
            return MatchResult(query, Outcome.SMALLTALK, None, 0.0, smalltalk=talk)
        question = self.question(query)
        result = self._decide(self.rank(question), limit)
        if context is not None and len(question.tokens) <= FOLLOWUP_MAX_WORDS:
            followup = self._followup(question, context, limit)
            # The reading in context wins only where it is more sure than the message alone.
            if followup is not None and (
                result.outcome is not Outcome.ANSWER or followup.score > result.score
            ):
                return followup
        return self._with_other_parts(query, result, limit)

    def ranked(self, query: str, limit: int = 10) -> list[Candidate]:
        """Top entries by probability regardless of outcome (inline mode, `kb search`)."""
        return self._candidates(self.rank(self.question(query)), limit)

    def clear_first(self, query: str, limit: int = 3) -> tuple[list[Candidate], bool]:
        """The leading candidates, and whether the first leads clearly (no tie with the second):
        only a clear first choice is ever answered (lint's [conflict] check asks this)."""
        ranking = self.rank(self.question(query))
        return self._candidates(ranking, limit), bool(ranking.entries) and not ranking.tied

    def _candidates(self, ranking: _Ranking, limit: int | None = None) -> list[Candidate]:
        return [
            Candidate(self._entries[i], round(float(p) * 100, 1))
            for i, p in zip(ranking.entries[:limit], ranking.probabilities[:limit])
        ]

    def explain(self, query: str, limit: int = 5) -> list[tuple[Entry, float, dict[str, float]]]:
        """The leading candidates with their probability and features (`visabot kb why`)."""
        ranking = self.rank(self.question(query))
        return [
            (self._entries[i], float(p), dict(zip(FEATURES, map(float, row))))
            for i, p, row in zip(
                ranking.entries[:limit], ranking.probabilities[:limit], ranking.rows[:limit]
            )
        ]

    def _followup(self, question: Question, context: Entry, limit: int) -> MatchResult | None:
        """Read a short message with the previous answer's question. A message that names a visa
        keeps the previous subject and swaps the visa ("and for the K visa?" after the H-4
        family answer: the family question, for the K visa); one that names none keeps the
        previous visa and asks something new ("what about the fees?"). None unless that reading
        answers, or asks "did you mean", with another entry than the previous one first: choices
        within the conversation's subject serve better than a decline that offers the other visa."""
        previous = self.normalizer.canonical(context.question)
        visas = self.scope.visa_terms(previous)
        if question.signals.names_ours or question.signals.china:
            for term in visas:
                previous = f" {previous} ".replace(f" {term} ", " ")
            added = previous
        else:
            added = " ".join(visas)
        combined = self.question(f"{question.raw} {added}")
        result = self._decide(self.rank(combined), limit)
        first = result.entry or (result.alternatives[0].entry if result.alternatives else None)
        if (
            result.outcome not in (Outcome.ANSWER, Outcome.CLARIFY)
            or first is None
            or first.id == context.id
        ):
            return None
        return MatchResult(
            question.raw,
            result.outcome,
            result.entry,
            result.score,
            result.alternatives,
            asked_about=result.asked_about,
            followup=True,
        )

    def _with_other_parts(self, query: str, result: MatchResult, limit: int) -> MatchResult:
        """A message of several parts. When two or more parts each have a confident answer of
        their own, answer the first and send the others as `also`. When the message as a whole
        has no confident answer, one confident part is enough: a story's background dilutes its
        closing question ("...my manager hints at cuts; if I am laid off on H-1B, how many days do
        I have?"), which read alone is clear. On the real train and validation questions this
        answered 9 more rightly and 1 off-topic question more. Only the part of the message the
        matcher reads is split (MAX_QUERY_CHARS): a 4,000-character paste would otherwise be
        matched as a hundred questions, and only the last MAX_PARTS parts of some substance."""
        read = query[:MAX_QUERY_CHARS]
        parts = [self.question(p) for p in _PART_SPLIT_RE.split(read) if p and p.strip()]
        parts = [q for q in parts if len(q.tokens) >= MIN_PART_WORDS][-MAX_PARTS:]
        if len(parts) < 2:
            return result
        answered: dict[str, MatchResult] = {}  # entry id -> the first part it answers
        for question in parts:
            part = self._decide(self.rank(question), limit)
            if part.outcome is Outcome.ANSWER and part.entry is not None:
                answered.setdefault(part.entry.id, part)
        if len(answered) < (2 if result.outcome is Outcome.ANSWER else 1):
            return result
        found = list(answered.values())
        offered = found[0].alternatives
        if result.entry is not None and result.entry.id in answered:
            first = answered[result.entry.id]
            found = [first, *(part for part in found if part is not first)]
            offered = result.alternatives  # the whole message's runners-up
        chosen = [Candidate(part.entry, part.score) for part in found if part.entry is not None]
        sent = {c.entry.id for c in chosen}
        return MatchResult(
            query,
            Outcome.ANSWER,
            chosen[0].entry,
            chosen[0].score,
            [c for c in offered if c.entry.id not in sent],
            also=chosen[1:],
            asked_about=result.asked_about,
        )
