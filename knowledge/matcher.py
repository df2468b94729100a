"""Match a user's message to the best knowledge-base entry, or decline.

How a score is made (0–100): every entry is indexed by its phrasings (question, alternates,
keywords). Each phrasing and the query become content tokens (see normalize). A query token
matches a phrasing token exactly, or fuzzily for typos (rapidfuzz ratio ≥ 80 on tokens of 4+
characters). Tokens weigh by rarity (IDF), and a query token the knowledge base has never seen
weighs as much as the rarest known one, because an unknown word ("pizza", "Schengen") is
evidence the question is about something else. The score mixes how much of the query the
phrasing explains with how much of the phrasing the query covers; long messages lean on the
latter, since a worried story contains many words no phrasing has. The best phrasing per entry
is the entry's score.

Outcomes: answer when one entry is clearly best, clarify when the top entries are close,
decline when nothing is good enough — wrongly declining is cheaper than wrongly answering.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from rapidfuzz import fuzz, process

from knowledge.loader import KnowledgeBase
from knowledge.model import Entry, Topic
from knowledge.normalize import QUESTION_WORDS, Normalizer

ANSWER_THRESHOLD = 55.0
CLARIFY_THRESHOLD = 48.0
CLEAR_MARGIN = 5.0  # the best entry must lead the runner-up by this much to be answered
NEAR_THRESHOLD = 33.0  # "somewhat close" entries offered when declining
FUZZY_TOKEN_CUTOFF = 80.0
MIN_FUZZY_TOKEN_LEN = 4
MAX_CHOICES = 3
REFINE_TOP = 40  # phrasings re-scored with whole-string similarity
WHOLE_TEXT_WEIGHT = 0.3
WHOLE_TEXT_WEIGHT_LONG = 0.1
LONG_QUERY_TOKENS = 6  # beyond this many content tokens a message is treated as a story
BETA_GROWTH = 0.7
STORY_ANSWER_THRESHOLD = 48.0
STORY_MARGIN = 10.0
BOTH_NAMED_BOOST = 1.12  # comparison entries, when a question names both visas

# Names of the US side: the H-1B itself and the US terms that only H-1B entries cover.
_H1B_RE = re.compile(r"\b(h1b|h4|uscis|100k|o1|l1|tn|niw|lca|opt|ead|eb2|i140|i129|cap gap|green card)\b")
_K_VISA_RE = re.compile(r"\bk visa\b")
_CHINA_RE = re.compile(r"\b(china|chinese|chinas)\b|中国")
_COMPARING_RE = re.compile(r"\b(vs|versus|compare|compared|comparison|difference|better|easier|cheaper|or)\b|比")
# Visa systems the knowledge base does not cover; naming one without naming ours means decline.
_OTHER_COUNTRIES_RE = re.compile(
    r"\b(schengen|uk|britain|british|england|ireland|japan|japanese|canada|canadian|australia|"
    r"australian|new zealand|germany|german|france|french|italy|spain|netherlands|dubai|uae|"
    r"saudi|singapore|korea|korean|russia|europe|european|eu|thailand|vietnam|malaysia|"
    r"philippines|taiwan|hong kong|macau|mexico|brazil|k eta|eta|esta)\b"
)
# US visas the knowledge base does not cover (L-1, O-1, TN, NIW are covered as H-1B alternatives).
_OTHER_US_VISAS_RE = re.compile(r"\b(b1|b2|b1b2|j1|h2b|h2a|h1b1|eb5|e2|dv lottery|esta|i94|i 94|f1 visa interview)\b")
_OTHER_VISA_NAMED_RE = re.compile(r"\b(f1|o1|l1|tn|j1|b1|b2|dv|eb5|[lmfxsq][12]?) visa\b|\b(f1|o1|l1|j1|b1|b2|dv)\b")
_OUR_VISAS_RE = re.compile(r"\b(h1b|k visa|h4)\b")
_OUR_SCOPE_RE = re.compile(
    r"\b(h1b|k visa|china|chinese|us|usa|america|american|h4|uscis|100k|tn|o1|l1|eb2|niw|opt|ead|f1)\b"
)


class Outcome(StrEnum):
    ANSWER = "answer"
    CLARIFY = "clarify"
    DECLINE = "decline"


@dataclass(frozen=True)
class Candidate:
    entry: Entry
    score: float


@dataclass(frozen=True)
class MatchResult:
    """What the matcher decided; knows nothing of how it will be shown."""

    query: str
    outcome: Outcome
    entry: Entry | None  # set only for ANSWER
    score: float  # best entry's score (0 if nothing matched)
    alternatives: list[Candidate] = field(default_factory=list)

    @property
    def matched(self) -> bool:
        return self.outcome is Outcome.ANSWER


class Matcher:
    """An index over one knowledge base. Build once; `match` is read-only and thread-safe."""

    def __init__(self, base: KnowledgeBase):
        self.base = base
        self.normalizer = Normalizer(base.synonyms)
        self._entries: list[Entry] = list(base.entries)
        phrasing_entry: list[int] = []
        phrasing_tokens: list[list[str]] = []
        self._phrasing_text: list[str] = []
        for idx, entry in enumerate(self._entries):
            for text in (entry.question, *entry.alternates, *entry.keywords):
                toks = self.normalizer.content_tokens(text)
                if toks:
                    phrasing_entry.append(idx)
                    phrasing_tokens.append(toks)
                    self._phrasing_text.append(self.normalizer.canonical(text))
        self._phrasing_entry = np.asarray(phrasing_entry, dtype=np.int32)
        self._one_word_owners: dict[str, set[int]] = {}
        for toks, eidx in zip(phrasing_tokens, phrasing_entry):
            if len(toks) == 1:
                self._one_word_owners.setdefault(toks[0], set()).add(eidx)
        self._topics = [e.topic for e in self._entries]

        # Document frequency per entry, so an entry with many alternates does not skew weights.
        df: dict[str, int] = {}
        entry_tokens: dict[int, set[str]] = {}
        for toks, eidx in zip(phrasing_tokens, phrasing_entry):
            entry_tokens.setdefault(eidx, set()).update(toks)
        for toks in entry_tokens.values():
            for tok in toks:
                df[tok] = df.get(tok, 0) + 1
        n = max(len(self._entries), 1)
        self._idf = {tok: math.log((n + 1) / (count + 0.5)) for tok, count in df.items()}
        self._unknown_weight = math.log((n + 1) / 0.5)
        self._vocab = list(self._idf)

        postings: dict[str, list[int]] = {}
        totals = np.zeros(len(phrasing_tokens), dtype=np.float64)
        for pidx, toks in enumerate(phrasing_tokens):
            for tok in toks:
                postings.setdefault(tok, []).append(pidx)
                totals[pidx] += self._idf[tok]
        self._postings = {tok: np.asarray(ids, dtype=np.int32) for tok, ids in postings.items()}
        self._phrasing_weight = totals

    def __len__(self) -> int:
        return len(self._entries)

    def _expand(self, token: str) -> list[tuple[str, float]]:
        """The token itself if known, else known tokens within a typo of it."""
        if token in self._idf:
            return [(token, 1.0)]
        if len(token) < MIN_FUZZY_TOKEN_LEN or not token.isascii():
            return []
        hits = process.extract(
            token,
            self._vocab,
            scorer=fuzz.ratio,
            processor=None,
            score_cutoff=FUZZY_TOKEN_CUTOFF,
            limit=3,
        )
        return [(tok, score / 100.0) for tok, score, _ in hits if len(tok) >= MIN_FUZZY_TOKEN_LEN]

    def _entry_scores(self, tokens: Sequence[str], canonical: str) -> np.ndarray:
        """Best phrasing score per entry, 0–100."""
        n_phr = len(self._phrasing_entry)
        query_hit = np.zeros(n_phr)  # weight of query tokens found in the phrasing
        phrasing_hit = np.zeros(n_phr)  # weight of phrasing tokens found in the query
        query_weight = 0.0
        # In a long story, unknown words are mostly narrative ("sister", "wedding"), not a sign
        # that the question is off-topic, so each counts for less.
        unknown_weight = self._unknown_weight * min(1.0, LONG_QUERY_TOKENS / len(tokens))
        for tok in tokens:
            expansions = self._expand(tok)
            if not expansions:
                # Unknown numbers and scraps ("38", "ok") are personal detail, not topic evidence.
                if not tok.isdigit():
                    query_weight += unknown_weight
                continue
            weight = self._idf[expansions[0][0]]  # the token itself, or its nearest known spelling
            query_weight += weight
            best = np.zeros(n_phr)
            for known, strength in expansions:
                ids = self._postings[known]
                best[ids] = np.maximum(best[ids], strength)
                phrasing_hit[ids] += self._idf[known] * strength
            query_hit += best * weight
        if query_weight == 0:
            return np.zeros(len(self._entries))
        query_cover = query_hit / query_weight
        phrasing_cover = np.minimum(phrasing_hit / np.maximum(self._phrasing_weight, 1e-9), 1.0)
        # An F-score of the two coverages: a phrasing must explain the query AND be covered by it.
        # Short questions weigh both equally; long stories only need to contain the phrasing.
        beta2 = 1.0 if len(tokens) <= LONG_QUERY_TOKENS else min(6.0, 1.0 + BETA_GROWTH * (len(tokens) - LONG_QUERY_TOKENS))
        denom = beta2 * query_cover + phrasing_cover
        phrasing_scores = 100.0 * (1 + beta2) * query_cover * phrasing_cover / np.maximum(denom, 1e-9)
        # Refine the leading phrasings with whole-string similarity, stopwords included: it tells
        # "what is the K visa" from "what can I do on a K visa" when their content words tie.
        k = min(REFINE_TOP, n_phr)
        top = np.argpartition(-phrasing_scores, k - 1)[:k] if k < n_phr else np.arange(n_phr)
        top = top[phrasing_scores[top] > 0]
        # A story never resembles a phrasing as a whole, so there the refinement weighs less.
        whole = WHOLE_TEXT_WEIGHT if len(tokens) <= LONG_QUERY_TOKENS else WHOLE_TEXT_WEIGHT_LONG
        for pidx in top:
            similarity = fuzz.ratio(canonical, self._phrasing_text[pidx], processor=None)
            phrasing_scores[pidx] = (1 - whole) * phrasing_scores[pidx] + whole * similarity
        scores = np.zeros(len(self._entries))
        np.maximum.at(scores, self._phrasing_entry, phrasing_scores)
        return scores

    def _topic_weights(self, canonical: str) -> dict[Topic, float]:
        """Topic guard: a question naming only one visa never gets the other visa's entries;
        one naming both leans towards the comparison entries ("h1b" alone weighs little)."""
        names_h1b = bool(_H1B_RE.search(canonical))
        names_k = bool(_K_VISA_RE.search(canonical))
        weights = dict.fromkeys(Topic, 1.0)
        if names_h1b and names_k:
            weights[Topic.COMPARE] = BOTH_NAMED_BOOST
        elif _OTHER_VISA_NAMED_RE.search(canonical) and not names_k:
            weights[Topic.K_VISA] = 0.0  # "F1 documents", "China L visa": not K-visa questions
        if names_h1b != names_k:
            weights[Topic.K_VISA if names_h1b else Topic.H1B] = 0.0
            # "China's H-1B" compares without saying "K visa".
            if not (_COMPARING_RE.search(canonical) or (names_h1b and _CHINA_RE.search(canonical))):
                weights[Topic.COMPARE] = 0.0
        return weights

    def match(self, query: str, limit: int = MAX_CHOICES) -> MatchResult:
        # Guards read the token text: Chinese split from Latin, so "K签证和H1B" shows both names.
        canonical = " ".join(self.normalizer.tokens(query))
        other_country = _OTHER_COUNTRIES_RE.search(canonical) and not _OUR_SCOPE_RE.search(canonical)
        other_us_visa = _OTHER_US_VISAS_RE.search(canonical) and not _OUR_VISAS_RE.search(canonical)
        if other_country or other_us_visa:
            return MatchResult(query, Outcome.DECLINE, None, 0.0)
        tokens = self.normalizer.content_tokens(query)
        if all(t in QUESTION_WORDS or (len(t) == 1 and t.isascii()) for t in tokens):
            # "who are you", "<b>", "how?": nothing to match on.
            return MatchResult(query, Outcome.DECLINE, None, 0.0)
        scores = self._entry_scores(tokens, canonical)
        weights = self._topic_weights(canonical)
        if any(w != 1.0 for w in weights.values()):
            scores = np.minimum(scores * np.array([weights[t] for t in self._topics]), 100.0)
        # One plain word ("already", "visa") is too little to answer on. A curated term from the
        # synonyms file ("niw", "lca") that exactly one entry lists on its own is a real question.
        owners = self._one_word_owners.get(tokens[0], set()) if len(tokens) == 1 else set()
        vague = len(tokens) == 1 and not (tokens[0] in self.normalizer.terms and len(owners) == 1)
        return self._decide(query, scores, limit, vague=vague, story=len(tokens) > LONG_QUERY_TOKENS)

    def ranked(self, query: str, limit: int = 10) -> list[Candidate]:
        """Top entries by score regardless of outcome (inline mode, `kb search`)."""
        result = self.match(query, limit=limit)
        if result.entry is not None:
            return [Candidate(result.entry, result.score), *result.alternatives][:limit]
        return result.alternatives[:limit]

    def _decide(
        self, query: str, scores: np.ndarray, limit: int, *, vague: bool = False, story: bool = False
    ) -> MatchResult:
        k = min(max(limit, MAX_CHOICES) + 1, len(scores))
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        ranked = [Candidate(self._entries[i], round(float(scores[i]), 1)) for i in top if scores[i] > 0]
        if not ranked:
            return MatchResult(query, Outcome.DECLINE, None, 0.0)
        best = ranked[0]
        runner_up = ranked[1].score if len(ranked) > 1 else 0.0
        clear = best.score >= ANSWER_THRESHOLD and best.score - runner_up >= CLEAR_MARGIN
        # A long story scores lower overall; one entry far ahead of the rest is still clear.
        clear_story = story and best.score >= STORY_ANSWER_THRESHOLD and best.score - runner_up >= STORY_MARGIN
        if not vague and (clear or clear_story):
            return MatchResult(query, Outcome.ANSWER, best.entry, best.score, ranked[1 : limit + 1])
        if best.score >= CLARIFY_THRESHOLD:
            # Close rivals, or alone at the top but below the answer bar: asking is safer.
            close = [c for c in ranked if c.score >= best.score - 2 * CLEAR_MARGIN][:limit]
            return MatchResult(query, Outcome.CLARIFY, None, best.score, close)
        near = [c for c in ranked if c.score >= NEAR_THRESHOLD][:limit]
        return MatchResult(query, Outcome.DECLINE, None, best.score, near)
