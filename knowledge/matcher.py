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

import functools
import math
import re
import threading
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from rapidfuzz import fuzz, process

from knowledge.loader import KnowledgeBase
from knowledge.model import Entry, Topic
from knowledge.normalize import (
    MAX_QUERY_CHARS,
    QUESTION_WORDS,
    Normalizer,
    content_of,
    split_canonical,
)

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
OTHER_CHINA_VISA_WEIGHT = 0.6  # K-visa entries, for a Chinese visa question that is not about it
# An entry's anchors are the words most of the ways of asking it share ("h1b", "100k", "k visa");
# a question that lacks them loses up to this share of its score for that entry.
ANCHOR_SHARE = 0.7  # in at least this share of the question and alternates
ANCHOR_MIN_PHRASINGS = 3  # entries asked fewer ways have no reliable anchors
ANCHOR_PENALTY = 0.1
MARKER_PENALTY = 0.2
MARKER_TOP = 10
# Words that name their visa by implication, for anchors: H-4 is the H-1B's dependant visa, and
# the $100,000 payment exists only for H-1B petitions.
_IMPLIES = {"h4": ("h1b",), "100k": ("h1b",)}
# A year says little about which entry is meant (nearly all are about 2025-2026), yet as a rare
# token it used to decide "h1b lottery odds 2026" for the entry that lists "lottery dates 2026".
YEAR_WEIGHT = 0.3
_YEAR_RE = re.compile(r"(fy)?20\d\d")
# Implementation limits (no effect on answers):
DENSE_RATIO = 4  # score every phrasing when the query's postings exceed 1/DENSE_RATIO of them
KEEP_TEXTS_UP_TO = 50_000  # phrasing texts kept for the refinement up to this many; recomputed beyond
TEXT_CACHE_SIZE = 32_768  # recomputed phrasing texts remembered
BUILD_CHUNK = 1 << 16  # phrasings processed at a time by the array stages of the build
SCORE_CHUNK = 1 << 15  # phrasings scored at a time when a query scores them all
FUZZY_CACHE_SIZE = 4096  # unknown tokens whose typo expansions are remembered
MAX_FILTERED_FUZZY_LEN = 150  # longer unknown tokens skip the character-count prefilter
_FUZZY_CHARS = "0123456789abcdefghijklmnopqrstuvwxyz"
_FUZZY_COLUMN = {ch: i for i, ch in enumerate(_FUZZY_CHARS)}
_CHAR_COLUMN_LUT = np.full(129, -1, dtype=np.int8)
_CHAR_COLUMN_LUT[[ord(ch) for ch in _FUZZY_CHARS]] = np.arange(len(_FUZZY_CHARS))
_TOPICS = list(Topic)
_TOPIC_CODE = {t: i for i, t in enumerate(_TOPICS)}

# Names of the US side: the H-1B itself and the US terms that only H-1B entries cover.
_H1B_RE = re.compile(r"\b(h1b|h4|uscis|100k|o1|l1|tn|niw|lca|opt|ead|eb2|i140|i129|cap gap|green card)\b")
_K_VISA_RE = re.compile(r"\bk visa\b")
_VISA_WORD_RE = re.compile(r"\bvisa\b")
# What sets the K visa apart, for questions about it that do not use its name.
_K_TRAITS_RE = re.compile(r"\b(young|youth|talent|talents|stem|science|scientist|scientists|technology|tech|research|researcher|researchers|814|new)\b|青年|人才|科技")
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
# The United States named in the user's own text: "US"/"U.S." only in capitals, as lower-case
# "us" is mostly the pronoun ("can they send us to china").
_US_NAMED_RE = re.compile(r"\bU\.?S\.?(A\.?)?(?![A-Za-z])|(?i:\b(usa|america|american|united states)\b)|美国|美國")
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
    """An index over one knowledge base. Build once; `match` is read-only and thread-safe.

    Layout: tokens are interned to ids (`_vocab[id]`); phrasings are numbered in entry order, so an
    entry's phrasings are contiguous; posting lists are one CSR array (`_postings`, sliced by
    `_posting_ptr`), each list in ascending phrasing order. No per-phrasing Python objects are
    kept: a phrasing's text is recomputed from its entry when needed (large bases only).

    A query scatters its tokens' weights into per-thread scratch arrays, then scores only the
    phrasings it touched, or, when it touched most of them, all phrasings in place. Every score
    is computed with the same floating-point operations in the same order as the plain dense
    formula, and ties are broken by the same partitions, so results do not depend on the path.
    """

    def __init__(self, base: KnowledgeBase):
        self.base = base
        self.normalizer = Normalizer(base.synonyms)
        self._entries = base.entries
        self._scratch = threading.local()
        self._fuzzy_cache: dict[str, tuple[tuple[int, float], ...]] = {}
        self._recomputed_text = functools.lru_cache(maxsize=TEXT_CACHE_SIZE)(self._recompute_text)
        self._build()
        self._build_fuzzy_index()

    # ------------------------------------------------------------------ build

    def _build(self) -> None:
        canonical = self.normalizer.canonical
        token_ids: dict[str, int] = {}
        flat = array("i")  # token ids of every phrasing, one phrasing after the other
        starts = array("i")  # where each phrasing's tokens start in `flat`
        lengths = array("i")  # and how many there are
        phrasing_entry = array("i")
        phrasing_slot = array("i")  # 0 = question, then alternates, then keywords
        df: Counter[int] = Counter()  # token id -> entries using it
        one_word: dict[str, int] = {}  # token -> the entry listing it alone, or -1 when several do
        topic_codes = array("b")
        anchor_flat = array("i")  # each entry's anchor token ids, one entry after the other
        anchor_ends = array("i")
        texts: list[str] | None = []  # dropped once there are more than KEEP_TEXTS_UP_TO
        for idx, entry in enumerate(self._entries):  # one pass: each entry is decoded once
            topic_codes.append(_TOPIC_CODE[entry.topic])
            entry_seen: set[int] = set()
            asked = Counter[int]()  # token id -> how many ways of asking (not keywords) use it
            n_asked = 1 + len(entry.alternates)
            for slot, text in enumerate((entry.question, *entry.alternates, *entry.keywords)):
                canon = canonical(text)
                toks = content_of(split_canonical(canon))
                if not toks:
                    continue
                ids = [token_ids.setdefault(tok, len(token_ids)) for tok in toks]
                starts.append(len(flat))
                lengths.append(len(ids))
                flat.extend(ids)
                phrasing_entry.append(idx)
                phrasing_slot.append(slot)
                entry_seen.update(ids)
                if slot < n_asked:
                    asked.update(set(ids))
                if len(toks) == 1:
                    owner = one_word.get(toks[0])
                    one_word[toks[0]] = idx if owner is None or owner == idx else -1
                if texts is not None:
                    texts.append(canon)
                    if len(texts) > KEEP_TEXTS_UP_TO:
                        texts = None
            df.update(entry_seen)
            if n_asked >= ANCHOR_MIN_PHRASINGS:
                anchor_flat.extend(t for t, k in asked.items() if k >= ANCHOR_SHARE * n_asked)
            anchor_ends.append(len(anchor_flat))
        self._one_word_owner = one_word
        self._phrasing_text = texts
        self._vocab: list[str] = list(token_ids)
        self._token_ids = token_ids
        self._phrasing_entry = np.frombuffer(phrasing_entry, dtype=np.int32).copy()
        slots = np.frombuffer(phrasing_slot, dtype=np.int32)
        small = not len(slots) or slots.max() < 2**15
        self._phrasing_slot = slots.astype(np.int16) if small else slots.copy()
        del slots
        self._topic_codes = np.frombuffer(topic_codes, dtype=np.int8).copy()
        n_phr, n_vocab = len(phrasing_entry), len(token_ids)
        flat_np = np.frombuffer(flat, dtype=np.int32)
        starts_np = np.frombuffer(starts, dtype=np.int32)
        lengths_np = np.frombuffer(lengths, dtype=np.int32)
        del phrasing_entry, phrasing_slot

        # Document frequency per entry, so an entry with many alternates does not skew weights.
        n = max(len(self._entries), 1)
        # math.log, not np.log, so the weights are exactly the scalar formula's.
        self._idf = [
            math.log((n + 1) / (df[tid] + 0.5)) * (YEAR_WEIGHT if _YEAR_RE.fullmatch(self._vocab[tid]) else 1.0)
            for tid in range(n_vocab)
        ]
        del df
        self._unknown_weight = math.log((n + 1) / 0.5)
        idf = np.asarray(self._idf, dtype=np.float64)
        self._build_anchors(anchor_flat, anchor_ends, idf)
        del anchor_flat, anchor_ends

        # Postings: phrasing ids grouped by token, each list ascending. A counting sort done in
        # chunks of phrasings (in order), so no temporary is as large as all postings.
        counts = np.zeros(n_vocab, dtype=np.int64)
        for lo in range(0, len(flat_np), BUILD_CHUNK):  # bincount widens its input to int64
            counts += np.bincount(flat_np[lo : lo + BUILD_CHUNK], minlength=n_vocab)
        self._posting_ptr = np.zeros(n_vocab + 1, dtype=np.int64)
        np.cumsum(counts, out=self._posting_ptr[1:])
        self._postings = np.empty(len(flat_np), dtype=np.int32)
        filled = self._posting_ptr[:-1].copy()  # next free slot per token
        for lo in range(0, n_phr, BUILD_CHUNK):
            hi = min(lo + BUILD_CHUNK, n_phr)
            first, last = int(starts_np[lo]), int(starts_np[hi - 1] + lengths_np[hi - 1])
            chunk = flat_np[first:last]
            order = np.argsort(chunk, kind="stable")
            sorted_toks = chunk[order]
            chunk_counts = np.bincount(chunk, minlength=n_vocab)
            group_start = np.cumsum(chunk_counts) - chunk_counts  # in this chunk's sorted order
            rank = np.arange(len(chunk)) - group_start[sorted_toks]
            phrasing = np.repeat(np.arange(lo, hi, dtype=np.int32), lengths_np[lo:hi])
            self._postings[filled[sorted_toks] + rank] = phrasing[order]
            filled += chunk_counts
        del filled, counts

        # Each phrasing's total weight, summed token by token in phrasing order (the same
        # floating-point sums as adding one token at a time).
        totals = np.zeros(n_phr, dtype=np.float64)
        for lo in range(0, n_phr, BUILD_CHUNK):  # in chunks, to keep temporaries small
            chunk_len = lengths_np[lo : lo + BUILD_CHUNK]
            live = np.arange(lo, lo + len(chunk_len), dtype=np.int32)
            for j in range(int(chunk_len.max())):
                live = live[lengths_np[live] > j]
                totals[live] += idf[flat_np[starts_np[live] + j]]
        self._phrasing_norm = np.maximum(totals, 1e-9, out=totals)  # a phrasing's weight, as a divisor
        # Where each entry's phrasings start (entries without phrasings have none).
        owners = self._phrasing_entry
        self._entry_first = np.flatnonzero(np.concatenate(([n_phr > 0], owners[1:] != owners[:-1])))
        self._entry_with_phrasings = owners[self._entry_first]

    def _build_anchors(self, anchor_flat: array, anchor_ends: array, idf: np.ndarray) -> None:  # type: ignore[type-arg]
        """Per entry, its anchors' total weight; per token, the entries it anchors (CSR)."""
        anchors = np.frombuffer(anchor_flat, dtype=np.int32)
        ends = np.frombuffer(anchor_ends, dtype=np.int32)
        owners = np.repeat(np.arange(len(ends), dtype=np.int32), np.diff(ends, prepend=np.int32(0)))
        self._anchor_weight = np.bincount(owners, weights=idf[anchors], minlength=len(ends))
        order = np.argsort(anchors, kind="stable")
        self._anchored_entries = owners[order]
        self._anchored_ptr = np.zeros(len(idf) + 1, dtype=np.int64)
        np.cumsum(np.bincount(anchors, minlength=len(idf)), out=self._anchored_ptr[1:])

    def _anchor_factors(self, tokens: Sequence[str]) -> np.ndarray:
        """Per entry, 1 minus ANCHOR_PENALTY times the share of its anchors' weight the question
        lacks. "can i bring my dog to china" shares words with "can I bring my family to China on
        a K visa", but not "k visa": without this it was answered with the K-visa family entry."""
        implied = [name for tok in tokens for name in _IMPLIES.get(tok, ())]
        present = {tid for tok in (*tokens, *implied) for tid, _ in self._expand(tok)}
        found = np.zeros(len(self._anchor_weight))
        for tid in present:
            entries = self._anchored_entries[self._anchored_ptr[tid] : self._anchored_ptr[tid + 1]]
            found[entries] += self._idf[tid]
        has_anchors = self._anchor_weight > 0
        lacking = np.divide(self._anchor_weight - found, self._anchor_weight, out=found, where=has_anchors)
        lacking[~has_anchors] = 0.0
        return 1.0 - ANCHOR_PENALTY * lacking

    def _penalize_missing_markers(self, scores: np.ndarray, tokens: Sequence[str]) -> None:
        """The other side of anchors: a question's marker words (words that anchor some entry,
        like "100k") that a leading entry never uses lower its score by up to MARKER_PENALTY.
        "h1b transfer to new company 100k needed?" otherwise went to the transfer entry that
        never mentions the payment. Only the MARKER_TOP leading entries are checked: a lookup
        per entry and marker in the marker's posting list (phrasings ascend, entries are
        contiguous), so the cost does not grow with the knowledge base."""
        markers = {
            known for tok in tokens for known, _ in self._expand(tok)[:1]
            if self._anchored_ptr[known + 1] > self._anchored_ptr[known]
        }
        if not markers:
            return
        total = sum(self._idf[t] for t in markers)
        k = min(MARKER_TOP, len(scores))
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[scores[top] > 0].astype(np.int32)  # keys of the arrays' own dtype: no copies
        first = np.searchsorted(self._phrasing_entry, top, "left").astype(np.int32)
        end = np.searchsorted(self._phrasing_entry, top, "right")
        missing = np.zeros(len(top))
        for t in markers:
            postings = self._postings[self._posting_ptr[t] : self._posting_ptr[t + 1]]
            at = np.searchsorted(postings, first)  # the entry's first phrasing using t, if any
            uses = postings[np.minimum(at, len(postings) - 1)] < end
            missing[(at == len(postings)) | ~uses] += self._idf[t]
        scores[top] *= 1 - MARKER_PENALTY * missing / total

    def _build_fuzzy_index(self) -> None:
        """Vocabulary ordered by length, with per-character counts, to find typo candidates
        without scoring the whole vocabulary."""
        vocab = self._vocab
        lengths = np.fromiter(map(len, vocab), dtype=np.int32, count=len(vocab))
        order = np.argsort(lengths, kind="stable").astype(np.int32)  # by length, then by id
        sorted_len = lengths[order]
        max_len = int(sorted_len[-1]) if len(vocab) else 0
        self._fz_order = order
        self._fz_len = sorted_len
        # _fz_start[L] = first position (in length order) of a token of length >= L
        self._fz_start = np.searchsorted(sorted_len, np.arange(max_len + 2), side="left")
        # Counts of 0-9 and a-z per token (saturated at 255; only tokens far longer than any
        # fuzzy-matchable one could exceed that), one row per character.
        joined = "".join(vocab[i] for i in order.tolist())
        codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
        cols = _CHAR_COLUMN_LUT[np.minimum(codes, 128)]
        owner = np.repeat(np.arange(len(vocab), dtype=np.int32), sorted_len)
        del codes
        known = cols >= 0
        counts = np.zeros((len(_FUZZY_CHARS), len(vocab)), dtype=np.uint16)  # tokens are < 65536 chars
        np.add.at(counts, (cols[known], owner[known]), 1)
        self._fz_counts = np.minimum(counts, 255).astype(np.uint8)

    # ------------------------------------------------------------------ query

    def __len__(self) -> int:
        return len(self._entries)

    def _expand(self, token: str) -> tuple[tuple[int, float], ...]:
        """The token itself if known, else known tokens within a typo of it: (token id, strength)."""
        tid = self._token_ids.get(token)
        if tid is not None:
            return ((tid, 1.0),)
        if len(token) < MIN_FUZZY_TOKEN_LEN or not token.isascii():
            return ()
        hits = self._fuzzy_cache.get(token)
        if hits is None:
            hits = self._fuzzy(token)
            if len(self._fuzzy_cache) >= FUZZY_CACHE_SIZE:
                self._fuzzy_cache.clear()
            self._fuzzy_cache[token] = hits
        return hits

    def _fuzzy(self, token: str) -> tuple[tuple[int, float], ...]:
        """The best three known tokens with fuzz.ratio >= the cutoff, ties in vocabulary order:
        exactly what scoring the whole vocabulary gives, but only tokens that can reach the cutoff
        are scored. ratio = 100 * (1 - indel / (a + b)), indel = a + b - 2 * LCS >= |a - b|, and
        LCS <= the characters the two share (as multisets)."""
        a = len(token)
        lo, hi = (2 * a) // 3, (3 * a) // 2 + 1  # |a - b| <= (a + b) / 5, with a margin
        start = int(self._fz_start[min(lo, len(self._fz_start) - 1)])
        stop = int(self._fz_start[min(hi + 1, len(self._fz_start) - 1)])
        if start >= stop:
            return ()
        counts = Counter(token)
        if a <= MAX_FILTERED_FUZZY_LEN and all(ch in _FUZZY_COLUMN for ch in counts):
            shared = np.zeros(stop - start, dtype=np.int32)
            for ch, k in counts.items():
                shared += np.minimum(self._fz_counts[_FUZZY_COLUMN[ch], start:stop], k)
            # ratio >= 80  <=>  indel <= (a + b) / 5; indel >= a + b - 2 * shared; one unit of slack
            keep = 10 * shared >= 4 * (a + self._fz_len[start:stop]) - 1
            candidates = np.sort(self._fz_order[start:stop][keep])
        else:
            candidates = np.sort(self._fz_order[start:stop])
        if not len(candidates):
            return ()
        choices = [self._vocab[i] for i in candidates.tolist()]
        hits = process.extract(
            token, choices, scorer=fuzz.ratio, processor=None, score_cutoff=FUZZY_TOKEN_CUTOFF, limit=3
        )
        return tuple(
            (int(candidates[j]), score / 100.0) for tok, score, j in hits if len(tok) >= MIN_FUZZY_TOKEN_LEN
        )

    def _buffers(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """This thread's scratch arrays over all phrasings: query hit, phrasing hit (zeros between
        queries; phrasing hit also serves to pick the phrasings to refine) and seen (False between
        queries). Only these three: at 2 million phrasings each float array is 16 MB."""
        bufs = getattr(self._scratch, "bufs", None)
        if bufs is None:
            n_phr = len(self._phrasing_entry)
            bufs = (np.zeros(n_phr), np.zeros(n_phr), np.zeros(n_phr, dtype=bool))
            self._scratch.bufs = bufs
        return bufs

    def _text(self, pidx: int) -> str:
        """A phrasing's canonical text: kept for small bases, recomputed from the entry otherwise."""
        if self._phrasing_text is not None:
            return self._phrasing_text[pidx]
        return self._recomputed_text(pidx)

    def _recompute_text(self, pidx: int) -> str:
        entry = self._entries[self._phrasing_entry[pidx]]
        slot = int(self._phrasing_slot[pidx])
        if slot == 0:
            text = entry.question
        elif slot <= len(entry.alternates):
            text = entry.alternates[slot - 1]
        else:
            text = entry.keywords[slot - 1 - len(entry.alternates)]
        return self.normalizer.canonical(text)

    def _accumulate(
        self,
        tokens: Sequence[str],
        query_hit: np.ndarray,
        phrasing_hit: np.ndarray | None,
        seen: np.ndarray,
        touched: list[np.ndarray],
    ) -> float:
        """Scatter the query's tokens into the buffers, per phrasing: the weight of the query tokens
        it contains (query_hit) and the weight of its tokens found in the query (phrasing_hit; None
        when no token has several spellings, as then the two sums are the same). Lists the posting
        lists touched and returns the query's weight. Each phrasing receives the same additions in
        the same order as in a dense computation over every phrasing: the sums are bit-identical."""
        query_weight = 0.0
        postings, ptr, idf = self._postings, self._posting_ptr, self._idf
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
            weight = idf[expansions[0][0]]  # the token itself, or its nearest known spelling
            query_weight += weight
            lists = [postings[ptr[known] : ptr[known + 1]].astype(np.intp) for known, _ in expansions]
            touched.extend(lists)
            if phrasing_hit is not None:
                for (known, strength), ids in zip(expansions, lists):
                    np.add.at(phrasing_hit, ids, idf[known] * strength)
            if len(lists) == 1:
                # strength * weight == idf[known] * strength: one sum serves both (phrasing_hit None)
                np.add.at(query_hit, lists[0], expansions[0][1] * weight)
                continue
            # Several spellings: a phrasing counts the strongest one it contains.
            try:
                for k in sorted(range(len(lists)), key=lambda k: -expansions[k][1]):
                    ids = lists[k][~seen[lists[k]]]
                    seen[ids] = True
                    np.add.at(query_hit, ids, expansions[k][1] * weight)
            finally:
                for ids in lists:
                    seen[ids] = False
        return query_weight

    @staticmethod
    def _f_scores(
        query_hit: np.ndarray, phrasing_hit: np.ndarray, norm: np.ndarray, cover_out: np.ndarray,
        denom_out: np.ndarray, query_weight: float, beta2: float,
    ) -> np.ndarray:
        """Per phrasing, an F-score of the two coverages: a phrasing must explain the query AND
        be covered by it. Works in place: the scores replace query_hit (which phrasing_hit may
        be), cover_out and denom_out are overwritten. The same operations in the same order as
        100 * (1 + beta2) * query_cover * phrasing_cover
        / max(beta2 * query_cover + phrasing_cover, 1e-9)."""
        phrasing_cover = np.minimum(np.divide(phrasing_hit, norm, out=cover_out), 1.0, out=cover_out)
        query_cover = np.divide(query_hit, query_weight, out=query_hit)
        # (x * 1.0 is x: short questions skip that pass)
        weighted = query_cover if beta2 == 1.0 else np.multiply(query_cover, beta2, out=denom_out)
        denom = np.add(weighted, phrasing_cover, out=denom_out)
        np.maximum(denom, 1e-9, out=denom)
        scores = np.multiply(query_cover, 100.0 * (1 + beta2), out=query_cover)
        np.multiply(scores, phrasing_cover, out=scores)
        return np.divide(scores, denom, out=scores)

    def _entry_scores(self, tokens: Sequence[str], canonical: str) -> np.ndarray:
        """Best phrasing score per entry, 0–100."""
        scores = np.zeros(len(self._entries))
        query_hit, phrasing_hit, seen = self._buffers()
        n_phr = len(query_hit)
        # Short questions weigh both coverages equally; long stories only need to contain the
        # phrasing.
        long_by = len(tokens) - LONG_QUERY_TOKENS
        beta2 = 1.0 if long_by <= 0 else min(6.0, 1.0 + BETA_GROWTH * long_by)
        # A story never resembles a phrasing as a whole, so there the refinement weighs less.
        whole = WHOLE_TEXT_WEIGHT if len(tokens) <= LONG_QUERY_TOKENS else WHOLE_TEXT_WEIGHT_LONG
        separate = any(len(self._expand(tok)) > 1 for tok in tokens)  # a token with several spellings
        touched: list[np.ndarray] = []
        dense = False
        try:
            query_weight = self._accumulate(
                tokens, query_hit, phrasing_hit if separate else None, seen, touched
            )
            if not touched:
                return scores
            total = sum(map(len, touched))
            dense = total * DENSE_RATIO > n_phr
            if dense:
                # Most phrasings are touched: score them all in place, a slice at a time so the
                # temporaries stay small; untouched ones score 0.
                phrasing_scores = query_hit
                hits = phrasing_hit if separate else query_hit
                cover, denom = np.empty(SCORE_CHUNK), np.empty(SCORE_CHUNK)
                for lo in range(0, n_phr, SCORE_CHUNK):
                    hi = min(lo + SCORE_CHUNK, n_phr)
                    self._f_scores(
                        query_hit[lo:hi], hits[lo:hi], self._phrasing_norm[lo:hi], cover[: hi - lo],
                        denom[: hi - lo], query_weight, beta2,
                    )
                top = self._leading(np.negative(phrasing_scores, out=phrasing_hit))
                self._refine(phrasing_scores, top, top, canonical, whole)
                best = np.maximum.reduceat(phrasing_scores, self._entry_first)
                scores[self._entry_with_phrasings] = best
                return scores
            if len(touched) == 1:
                hit = touched[0]
            elif total * 16 < n_phr:
                hit = np.sort(np.concatenate(touched))
                hit = hit[np.concatenate(([True], hit[1:] != hit[:-1]))]
            else:
                hit = np.flatnonzero(query_hit > 0)  # touched phrasings have a positive weight
            q_hit = query_hit[hit]
            p_hit = phrasing_hit[hit] if separate else q_hit
        finally:
            if dense:
                query_hit.fill(0.0)
                phrasing_hit.fill(0.0)
            else:
                for ids in touched:
                    query_hit[ids] = 0.0
                    if separate:
                        phrasing_hit[ids] = 0.0
        phrasing_scores = self._f_scores(
            q_hit, p_hit, self._phrasing_norm[hit], np.empty(len(hit)), np.empty(len(hit)),
            query_weight, beta2,
        )
        if len(hit) <= REFINE_TOP:
            top = np.arange(len(hit))
        else:
            # Pick the leading phrasings from every phrasing's negated score, as the dense branch
            # does; phrasing hit is all zeros here, and an untouched phrasing's 0.0 compares as
            # the -0.0 the dense branch gives it, so the partition picks the same phrasings.
            phrasing_hit[hit] = -phrasing_scores
            try:
                top = np.searchsorted(hit, self._leading(phrasing_hit))
            finally:
                phrasing_hit[hit] = 0.0
        self._refine(phrasing_scores, top, hit[top], canonical, whole)
        # Best phrasing per entry: an entry's phrasings are contiguous and `hit` ascends.
        owner = self._phrasing_entry[hit]
        first = np.flatnonzero(np.concatenate(([True], owner[1:] != owner[:-1])))
        scores[owner[first]] = np.maximum.reduceat(phrasing_scores, first)
        return scores

    @staticmethod
    def _leading(negated: np.ndarray) -> np.ndarray:
        """The phrasings to refine, given every phrasing's negated score (untouched ones ±0.0): the
        REFINE_TOP best with a positive score, picked by the same partition as always, so the
        pick among phrasings tied at the cut does not depend on which ones a query touched."""
        if REFINE_TOP >= len(negated):
            top = np.arange(len(negated))
        else:
            top = np.argpartition(negated, REFINE_TOP - 1)[:REFINE_TOP]
        return top[negated[top] < 0]

    def _refine(
        self, phrasing_scores: np.ndarray, at: np.ndarray, phrasings: np.ndarray, canonical: str,
        whole: float,
    ) -> None:
        """Refine the leading phrasings with whole-string similarity, stopwords included: it tells
        "what is the K visa" from "what can I do on a K visa" when their content words tie."""
        if not len(at):
            return
        texts = [self._text(p) for p in phrasings.tolist()]
        similarity = np.array([fuzz.ratio(canonical, text, processor=None) for text in texts])
        phrasing_scores[at] = (1 - whole) * phrasing_scores[at] + whole * similarity

    def _topic_weights(self, canonical: str, names_us: bool) -> dict[Topic, float]:
        """Topic guard: a question naming only one visa never gets the other visa's entries;
        one naming both leans towards the comparison entries ("h1b" alone weighs little). A
        question about the US that names neither China nor the K visa ("permanent residency in
        usa") never gets K-visa entries either."""
        names_h1b = bool(_H1B_RE.search(canonical))
        names_k = bool(_K_VISA_RE.search(canonical))
        weights = dict.fromkeys(Topic, 1.0)
        if names_us and not names_k and not _CHINA_RE.search(canonical):
            weights[Topic.K_VISA] = 0.0
        elif (
            not names_k and _CHINA_RE.search(canonical) and _VISA_WORD_RE.search(canonical)
            and not _K_TRAITS_RE.search(canonical)
        ):
            # "how long does china visa take": some other Chinese visa, unless the question
            # describes the K visa ("china's new visa for young stem talent").
            weights[Topic.K_VISA] = OTHER_CHINA_VISA_WEIGHT
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
        split = self.normalizer.tokens(query)
        canonical = " ".join(split)
        other_country = _OTHER_COUNTRIES_RE.search(canonical) and not _OUR_SCOPE_RE.search(canonical)
        other_us_visa = _OTHER_US_VISAS_RE.search(canonical) and not _OUR_VISAS_RE.search(canonical)
        if other_country or other_us_visa:
            return MatchResult(query, Outcome.DECLINE, None, 0.0)
        tokens = content_of(split)
        if all(t in QUESTION_WORDS or (len(t) == 1 and t.isascii()) for t in tokens):
            # "who are you", "<b>", "how?": nothing to match on.
            return MatchResult(query, Outcome.DECLINE, None, 0.0)
        scores = self._entry_scores(tokens, canonical) * self._anchor_factors(tokens)
        self._penalize_missing_markers(scores, tokens)
        weights = self._topic_weights(canonical, bool(_US_NAMED_RE.search(query[:MAX_QUERY_CHARS])))
        if any(w != 1.0 for w in weights.values()):
            by_topic = np.array([weights[t] for t in _TOPICS])
            scores = np.minimum(scores * by_topic[self._topic_codes], 100.0)
        # One plain word ("already", "visa") is too little to answer on. A curated term from the
        # synonyms file ("niw", "lca") that exactly one entry lists on its own is a real question.
        sole_owner = len(tokens) == 1 and self._one_word_owner.get(tokens[0], -1) >= 0
        vague = len(tokens) == 1 and not (tokens[0] in self.normalizer.terms and sole_owner)
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
