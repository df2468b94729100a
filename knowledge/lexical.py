"""The lexical stage of matching: how much of a question an entry's phrasings explain, by word.

Every entry is indexed by its phrasings (question, alternates, keywords, its answer's opening
sentences). Each phrasing and the question become content tokens (knowledge/normalize.py). A
question token matches a phrasing token exactly, or fuzzily for typos (rapidfuzz ratio >= 80 on
tokens of 4+ characters). Tokens weigh by rarity (IDF), and a token the knowledge base has never
seen weighs as much as the rarest known one, because an unknown word ("pizza", "Schengen") is
evidence the question is about something else. A phrasing's score mixes how much of the question
it explains with how much of it the question covers (long messages lean on the latter: a worried
story contains many words no phrasing has), refined by whole-string similarity; an entry's score
is its best phrasing's.

The index also answers the questions the feature stage asks of a candidate entry: which words
it ever uses, and its anchors (the words most ways of asking it share: "h1b", "100k", "k visa").
It decides nothing: knowledge/decision.py does.
"""

from __future__ import annotations

import functools
import math
import re
import threading
from array import array
from collections import Counter
from collections.abc import Sequence

import numpy as np
from rapidfuzz import fuzz, process

from knowledge.model import Entry
from knowledge.normalize import Normalizer, content_of_canonical

FUZZY_TOKEN_CUTOFF = 80.0
MIN_FUZZY_TOKEN_LEN = 4
REFINE_TOP = 40  # phrasings re-scored with whole-string similarity
WHOLE_TEXT_WEIGHT = 0.3
WHOLE_TEXT_WEIGHT_LONG = 0.1
LONG_QUERY_TOKENS = 6  # beyond this many content tokens a message is treated as a story
BETA_GROWTH = 0.7
# An entry's anchors are the words most of the ways of asking it share.
ANCHOR_SHARE = 0.7  # in at least this share of the question and alternates
ANCHOR_MIN_PHRASINGS = 3  # entries asked fewer ways have no reliable anchors
# A year says little about which entry is meant (nearly all are about 2025-2026), yet as a rare
# token it used to decide "h1b lottery odds 2026" for the entry that lists "lottery dates 2026".
YEAR_WEIGHT = 0.3
_YEAR_RE = re.compile(r"(fy)?20\d\d")
# An answer's opening sentences are indexed too, like keywords (they match, but are no way of
# asking): they name the subject in the words of people who know the rules ("beneficiary",
# "cap-subject", "consular processing"), which formal questions use and phrasings written the way
# users ask often lack. Site-grouped cross-validation on the real questions: 210/556 right with
# 10 wrong without them, 220/9 with the first sentence, 228/9 with two, 223/9 with three, 206/12
# with the whole answer (knowledge base and corpus of 2026-12-05).
ANSWER_LEAD_SENTENCES = 2
_SENTENCE_END_RE = re.compile(r"(?<=[.;])\s+")
# Implementation limits (no effect on scores):
DENSE_RATIO = 4  # score every phrasing when the query's postings exceed 1/DENSE_RATIO of them
KEEP_TEXTS_UP_TO = (
    50_000  # phrasing texts kept for the refinement up to this many; recomputed beyond
)
TEXT_CACHE_SIZE = 32_768  # recomputed phrasing texts remembered
BUILD_CHUNK = 1 << 16  # phrasings processed at a time by the array stages of the build
SCORE_CHUNK = 1 << 15  # phrasings scored at a time when a query scores them all
FUZZY_CACHE_SIZE = 4096  # unknown tokens whose typo expansions are remembered
MAX_FILTERED_FUZZY_LEN = 150  # longer unknown tokens skip the character-count prefilter
_FUZZY_CHARS = "0123456789abcdefghijklmnopqrstuvwxyz"
_FUZZY_COLUMN = {ch: i for i, ch in enumerate(_FUZZY_CHARS)}
_CHAR_COLUMN_LUT = np.full(129, -1, dtype=np.int8)
_CHAR_COLUMN_LUT[[ord(ch) for ch in _FUZZY_CHARS]] = np.arange(len(_FUZZY_CHARS))


def answer_lead(entry: Entry) -> tuple[str, ...]:
    """The first ANSWER_LEAD_SENTENCES sentences of the entry's answer."""
    sentences = [s for s in _SENTENCE_END_RE.split(entry.answer.strip()) if s]
    return tuple(sentences[:ANSWER_LEAD_SENTENCES])


class LexicalIndex:
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

    def __init__(self, entries: Sequence[Entry], normalizer: Normalizer):
        self.normalizer = normalizer
        self._entries = entries
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
        phrasing_slot = array("i")  # 0 = question, alternates, keywords, answer lead
        phrasing_asked = bytearray()  # 1 for the question and alternates, 0 for the rest
        df: Counter[int] = Counter()  # token id -> entries using it
        one_word: dict[str, int] = {}  # token -> the entry listing it alone, or -1 when several do
        vocab_flat = array("i")  # each entry's token ids, one entry after the other
        vocab_ends = array("i")
        anchor_flat = array("i")  # each entry's anchor token ids, one entry after the other
        anchor_ends = array("i")
        texts: list[str] | None = []  # dropped once there are more than KEEP_TEXTS_UP_TO
        # Each entry is decoded once; all phrasings are made canonical in one go, which a cold
        # start reads back from disk (Normalizer.remember).
        phrasings = [
            (
                1 + len(entry.alternates),
                (entry.question, *entry.alternates, *entry.keywords, *answer_lead(entry)),
            )
            for entry in self._entries
        ]
        self.normalizer.remember([text for _, texts_of in phrasings for text in texts_of])
        for idx, (n_asked, texts_of) in enumerate(phrasings):
            entry_seen: set[int] = set()
            asked = Counter[int]()  # token id -> how many ways of asking (not keywords) use it
            for slot, text in enumerate(texts_of):
                canon = canonical(text)
                toks = content_of_canonical(canon)
                if not toks:
                    continue
                ids = [token_ids.setdefault(tok, len(token_ids)) for tok in toks]
                starts.append(len(flat))
                lengths.append(len(ids))
                flat.extend(ids)
                phrasing_entry.append(idx)
                phrasing_slot.append(slot)
                phrasing_asked.append(slot < n_asked)
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
            vocab_flat.extend(sorted(entry_seen))
            vocab_ends.append(len(vocab_flat))
            if n_asked >= ANCHOR_MIN_PHRASINGS:
                anchor_flat.extend(t for t, k in asked.items() if k >= ANCHOR_SHARE * n_asked)
            anchor_ends.append(len(anchor_flat))
        self._one_word_owner = one_word
        self._phrasing_text = texts
        self._vocab: list[str] = list(token_ids)
        self._token_ids = token_ids
        self._phrasing_entry = np.frombuffer(phrasing_entry, dtype=np.int32).copy()
        self._phrasing_asked = np.frombuffer(bytes(phrasing_asked), dtype=bool)
        slots = np.frombuffer(phrasing_slot, dtype=np.int32)
        small = not len(slots) or slots.max() < 2**15
        self._phrasing_slot = slots.astype(np.int16) if small else slots.copy()
        del slots
        self._entry_vocab = np.frombuffer(vocab_flat, dtype=np.int32).copy()
        self._entry_vocab_end = np.frombuffer(vocab_ends, dtype=np.int32).astype(np.int64)
        del vocab_flat, vocab_ends
        n_phr, n_vocab = len(phrasing_entry), len(token_ids)
        flat_np = np.frombuffer(flat, dtype=np.int32)
        starts_np = np.frombuffer(starts, dtype=np.int32)
        lengths_np = np.frombuffer(lengths, dtype=np.int32)
        del phrasing_entry, phrasing_slot

        # Document frequency per entry, so an entry with many alternates does not skew weights.
        n = max(len(self._entries), 1)
        # math.log, not np.log, so the weights are exactly the scalar formula's.
        self._idf = [
            math.log((n + 1) / (df[tid] + 0.5))
            * (YEAR_WEIGHT if _YEAR_RE.fullmatch(self._vocab[tid]) else 1.0)
            for tid in range(n_vocab)
        ]
        del df
        self._unknown_weight = math.log((n + 1) / 0.5)
        idf = np.asarray(self._idf, dtype=np.float64)
        self._anchors = np.frombuffer(anchor_flat, dtype=np.int32).copy()
        self._anchor_end = np.frombuffer(anchor_ends, dtype=np.int32).astype(np.int64)
        self._is_anchor = np.zeros(n_vocab, dtype=bool)
        self._is_anchor[self._anchors] = True
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
        self._phrasing_norm = np.maximum(
            totals, 1e-9, out=totals
        )  # a phrasing's weight, as a divisor
        # Where each entry's phrasings start (entries without phrasings have none).
        owners = self._phrasing_entry
        self._entry_first = np.flatnonzero(np.concatenate(([n_phr > 0], owners[1:] != owners[:-1])))
        self._entry_with_phrasings = owners[self._entry_first]

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
        counts = np.zeros(
            (len(_FUZZY_CHARS), len(vocab)), dtype=np.uint16
        )  # tokens are < 65536 chars
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
            token,
            choices,
            scorer=fuzz.ratio,
            processor=None,
            score_cutoff=FUZZY_TOKEN_CUTOFF,
            limit=3,
        )
        return tuple(
            (int(candidates[j]), score / 100.0)
            for tok, score, j in hits
            if len(tok) >= MIN_FUZZY_TOKEN_LEN
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
        elif slot <= len(entry.alternates) + len(entry.keywords):
            text = entry.keywords[slot - 1 - len(entry.alternates)]
        else:
            text = answer_lead(entry)[slot - 1 - len(entry.alternates) - len(entry.keywords)]
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
            lists = [
                postings[ptr[known] : ptr[known + 1]].astype(np.intp) for known, _ in expansions
            ]
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
        query_hit: np.ndarray,
        phrasing_hit: np.ndarray,
        norm: np.ndarray,
        cover_out: np.ndarray,
        denom_out: np.ndarray,
        query_weight: float,
        beta2: float,
    ) -> np.ndarray:
        """Per phrasing, an F-score of the two coverages: a phrasing must explain the query AND
        be covered by it. Works in place: the scores replace query_hit (which phrasing_hit may
        be), cover_out and denom_out are overwritten. The same operations in the same order as
        100 * (1 + beta2) * query_cover * phrasing_cover
        / max(beta2 * query_cover + phrasing_cover, 1e-9)."""
        phrasing_cover = np.minimum(
            np.divide(phrasing_hit, norm, out=cover_out), 1.0, out=cover_out
        )
        query_cover = np.divide(query_hit, query_weight, out=query_hit)
        # (x * 1.0 is x: short questions skip that pass)
        weighted = query_cover if beta2 == 1.0 else np.multiply(query_cover, beta2, out=denom_out)
        denom = np.add(weighted, phrasing_cover, out=denom_out)
        np.maximum(denom, 1e-9, out=denom)
        scores = np.multiply(query_cover, 100.0 * (1 + beta2), out=query_cover)
        np.multiply(scores, phrasing_cover, out=scores)
        result: np.ndarray = np.divide(scores, denom, out=scores)
        return result

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
        separate = any(
            len(self._expand(tok)) > 1 for tok in tokens
        )  # a token with several spellings
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
                        query_hit[lo:hi],
                        hits[lo:hi],
                        self._phrasing_norm[lo:hi],
                        cover[: hi - lo],
                        denom[: hi - lo],
                        query_weight,
                        beta2,
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
            q_hit,
            p_hit,
            self._phrasing_norm[hit],
            np.empty(len(hit)),
            np.empty(len(hit)),
            query_weight,
            beta2,
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
        self,
        phrasing_scores: np.ndarray,
        at: np.ndarray,
        phrasings: np.ndarray,
        canonical: str,
        whole: float,
    ) -> None:
        """Refine the leading phrasings with whole-string similarity, stopwords included: it tells
        "what is the K visa" from "what can I do on a K visa" when their content words tie."""
        if not len(at):
            return
        texts = [self._text(p) for p in phrasings.tolist()]
        similarity = np.array([fuzz.ratio(canonical, text, processor=None) for text in texts])
        phrasing_scores[at] = (1 - whole) * phrasing_scores[at] + whole * similarity

    # ------------------------------------------------------------------ what the feature stage reads

    def scores(self, tokens: Sequence[str], canonical: str) -> np.ndarray:
        """Every entry's lexical score, 0-100, for a question's content tokens and canonical text."""
        return self._entry_scores(tokens, canonical)

    def phrasings(self) -> tuple[list[str], np.ndarray]:
        """Every phrasing's canonical text, in entry order, and the entry each belongs to."""
        return [self._text(p) for p in range(len(self._phrasing_entry))], self._phrasing_entry

    def asked(self) -> np.ndarray:
        """Per phrasing (in `phrasings` order): True for a question or alternate, False for a
        keyword (a bare term such as "weighted" is a hint, not a way of asking)."""
        return self._phrasing_asked

    def known(self, token: str) -> tuple[tuple[int, float], ...]:
        """(token id, strength) of the token, or of known tokens within a typo of it."""
        return self._expand(token)

    def weight(self, token: str) -> float:
        """How much a question token says: the IDF of its nearest known spelling; an unknown word
        weighs as the rarest known one, an unknown number nothing (personal detail)."""
        hits = self._expand(token)
        if hits:
            return self._idf[hits[0][0]]
        return 0.0 if token.isdigit() else self._unknown_weight

    def token(self, token_id: int) -> str:
        return self._vocab[token_id]

    def idf(self, token_id: int) -> float:
        return self._idf[token_id]

    def vocabulary(self, entry_index: int) -> np.ndarray:
        """The sorted token ids an entry's phrasings use."""
        start = self._entry_vocab_end[entry_index - 1] if entry_index else 0
        return self._entry_vocab[start : self._entry_vocab_end[entry_index]]

    def anchors(self, entry_index: int) -> np.ndarray:
        """The token ids most ways of asking the entry share (none for entries asked few ways)."""
        start = self._anchor_end[entry_index - 1] if entry_index else 0
        return self._anchors[start : self._anchor_end[entry_index]]

    def is_anchor(self, token_id: int) -> bool:
        """True when the token anchors some entry: a marker word such as "100k" or "h4"."""
        return bool(self._is_anchor[token_id])

    def sole_entry(self, token: str) -> int | None:
        """The one entry that lists this token alone as a phrasing ("niw"), if exactly one does."""
        owner = self._one_word_owner.get(token, -1)
        return owner if owner >= 0 else None
