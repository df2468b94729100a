"""A second lexical opinion: which entry's phrasings make the question's words most likely.

Multinomial naive Bayes over the canonical words and adjacent word pairs of every phrasing, one
class per entry. Where the lexical score (knowledge/lexical.py) weighs a word by how rare it is in
the whole base, this weighs it by how much more often one entry's phrasings use it than the
others': "lottery" says little about which of the five lottery entries is meant, "check" next to
it says a lot. The posterior is spread over all entries, so its size and its lead over the
runner-up tell the decision model how clear the choice is. In site-grouped cross-validation on
the real questions (knowledge/calibration.py) its three features took the matcher from 111/425
right with 12 wrong to 113/425 with 5 wrong (knowledge base of 2026-12-04).

Words no phrasing uses are left out, as a multinomial model over a fixed vocabulary does. Cost:
one pass over the phrasings to build; per question, one array addition per known word or pair.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

ALPHA = 0.1  # additive smoothing; 1.0 spread the posterior thin (cross-validation: 101 right)


def terms(words: Sequence[str]) -> Iterable[str]:
    """The words and adjacent pairs a text is counted by."""
    yield from words
    for first, second in itertools.pairwise(words):
        yield f"{first} {second}"


class TermBayes:
    """Posterior P(entry | words) from the phrasings' canonical texts and their owning entries."""

    def __init__(
        self, texts: Sequence[str], owners: np.ndarray, n_entries: int, alpha: float = ALPHA
    ):
        counted = [list(terms(text.split())) for text in texts]
        flat = [term for these in counted for term in these]
        ids = {term: i for i, term in enumerate(dict.fromkeys(flat))}
        self._ids = ids
        term_of = np.fromiter(map(ids.__getitem__, flat), dtype=np.int64, count=len(flat))
        entry_of = np.repeat(owners.astype(np.int64), [len(these) for these in counted])
        keys, counts = np.unique(term_of * max(n_entries, 1) + entry_of, return_counts=True)
        term_ids, self._entries = np.divmod(keys, max(n_entries, 1))
        # Per term, its (entry, boost) pairs lie in _starts[t]:_starts[t + 1] (keys are sorted).
        self._starts = np.searchsorted(term_ids, np.arange(len(ids) + 1))
        self._boost = np.log1p(counts / alpha)  # log((count + alpha) / alpha)
        per_entry = np.bincount(self._entries, weights=counts, minlength=n_entries)
        # log P(a word this entry never uses | entry): what every counted word costs it at least
        self._unseen = np.log(alpha / (per_entry + alpha * max(len(ids), 1)))
        phrasings = np.bincount(owners, minlength=n_entries).astype(np.float64)
        with np.errstate(divide="ignore"):
            self._prior = np.log(phrasings / max(phrasings.sum(), 1.0))

    def posterior(self, words: Sequence[str]) -> np.ndarray:
        """P(entry | the question's words), one value per entry; all zero when no word is known."""
        counted = Counter(t for t in terms(words) if t in self._ids)
        if not counted or not len(self._prior):
            return np.zeros(len(self._prior))
        ids = np.fromiter((self._ids[t] for t in counted), dtype=np.int64, count=len(counted))
        times = np.fromiter(counted.values(), dtype=np.float64, count=len(counted))
        # Every (entry, boost) pair of every counted term, gathered in one go.
        starts, ends = self._starts[ids], self._starts[ids + 1]
        lengths = ends - starts
        offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
        at = np.arange(int(lengths.sum())) + offsets
        boosts = self._boost[at] * np.repeat(times, lengths)
        log_p = self._prior + times.sum() * self._unseen
        log_p += np.bincount(self._entries[at], weights=boosts, minlength=len(log_p))
        log_p -= log_p.max()
        p = np.exp(log_p)
        posterior: np.ndarray = p / p.sum()
        return posterior
