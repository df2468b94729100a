"""Synthetic knowledge bases of any size, grown from the shipped entries.

The shipped entries are kept as they are (so real questions still have their real answers); every
extra entry copies a shipped one under a new id and rewrites its question, alternates and keywords:
each word is kept, replaced by a word drawn from the real vocabulary (by its real frequency), or
replaced by a pseudo-word; words are sometimes reordered. The pseudo-word pool grows with the size
of the base following Heaps' law (vocabulary ~ K * n^0.55), and pseudo-words are drawn with Zipf
weights, so the vocabulary and the posting-list lengths grow roughly as a real corpus's would.
Answers get a distinct string per entry so memory is not understated by sharing. Entries are made
one at a time as the knowledge base stores them, as the loader reads files one at a time.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Iterator

from knowledge.loader import KnowledgeBase
from knowledge.model import Entry

KEEP = 0.45  # share of words kept from the template phrasing
REAL_WORD = 0.25  # replaced by a real-vocabulary word
# the rest (0.30) become pseudo-words
SHUFFLE = 0.3  # chance a phrasing's word order is shuffled
HEAPS_BETA = 0.55

_WORD_RE = re.compile(r"\S+")
_SYLLABLES = [
    c + v for c in "bcdfghjklmnprstvwxz" for v in ("a", "e", "i", "o", "u", "ai", "ou")
] + [c + v + e for c in "bdgklmnprst" for v in "aeiou" for e in "nrs"]


def _pseudo_words(count: int, rng: random.Random, avoid: set[str]) -> list[str]:
    words: dict[str, None] = {}
    while len(words) < count:
        w = "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((2, 2, 3, 3, 3, 4))))
        if w not in avoid:
            words.setdefault(w, None)
    return list(words)


def synthetic_kb(base: KnowledgeBase, size: int, seed: int = 1234) -> KnowledgeBase:
    """A knowledge base of `size` entries: the real ones plus rewritten copies."""
    rng = random.Random(seed)
    real = list(base.entries)
    if size <= len(real):
        return KnowledgeBase(entries=real[:size], synonyms=base.synonyms)
    texts = [t for e in real for t in (e.question, *e.alternates, *e.keywords)]
    real_words = [w for t in texts for w in _WORD_RE.findall(t)]  # with repeats: real frequencies
    vocab = {w.lower() for w in real_words}
    pool_size = max(0, int(len(vocab) * (size / len(real)) ** HEAPS_BETA) - len(vocab))
    pseudo = _pseudo_words(pool_size, rng, vocab)
    zipf = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(len(pseudo))))
    rand = rng.random

    def rewrite(text: str) -> str:
        words = _WORD_RE.findall(text)
        out = []
        for w in words:
            r = rand()
            if r < KEEP:
                out.append(w)
            elif r < KEEP + REAL_WORD:
                out.append(real_words[int(rand() * len(real_words))])
            else:
                out.append(rng.choices(pseudo, cum_weights=zipf)[0] if pseudo else w)
        if len(out) > 1 and rand() < SHUFFLE:
            rng.shuffle(out)
        return " ".join(out)

    def entries() -> Iterator[Entry]:
        yield from real
        for i in range(len(real), size):
            t = real[i % len(real)]
            yield t.model_copy(
                update={
                    "id": f"{t.id[:36]}-s{i}",
                    "question": rewrite(t.question),
                    "alternates": [rewrite(a) for a in t.alternates],
                    "keywords": [rewrite(k) for k in t.keywords],
                    "answer": f"{t.answer[:880]} [{i}]",
                    "related": [],
                }
            )

    return KnowledgeBase(entries=entries(), synonyms=base.synonyms)
