"""The semantic stage: how close a question is in meaning to each entry's phrasings, offline.

Static word embeddings (WordLlama's 256-dimension "l2_supercat" table, shipped inside the
wordllama wheel: nothing is downloaded): a text's vector is the mean of its tokens' vectors, and
closeness is the cosine. It catches paraphrases that share few words with any phrasing ("my
husband" for a spouse), where the lexical stage sees nothing. We read the wheel's two files
ourselves (safetensors weights, a `tokenizers` JSON) instead of importing wordllama: its loader
looks for a folder the 0.4.0.post1 wheel names differently, and importing it reconfigures the
root logger. Cost: about 0.3 s to load, 0.03 ms per question.

It decides nothing either; a close meaning alone must never answer an off-topic question (a
blanket embedding fallback answered K-ETA and Beijing-weather questions), so it is one feature
among others for knowledge/decision.py.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from knowledge.disk_cache import remembered

WEIGHTS = Path("weights") / "l2_supercat_256.safetensors"
TOKENIZER = Path("tokenizers") / "l2_supercat_tokenizer_config.json"
BATCH = 256
# Up to this many phrasings every question is compared with each of them (the shipped base has
# about 1,300); beyond, with one mean vector per entry first (an implementation limit: 10,000
# entries have ~100,000 phrasings, 10 ms of matrix-vector product per question).
EXACT_UP_TO = 20_000


class EmbeddingsUnavailable(RuntimeError):
    """The wordllama wheel (which carries the weights) is not installed or incomplete."""


def _package_dir() -> Path:
    spec = importlib.util.find_spec("wordllama")
    if spec is None or spec.origin is None:
        raise EmbeddingsUnavailable("the wordllama package is not installed (pip install -e .)")
    return Path(spec.origin).parent


class StaticEmbedder:
    """Text → unit vector, from a token table: mean of the token vectors, normalised."""

    def __init__(self, table: np.ndarray, tokenizer: object):
        self._table = table
        self._tokenizer = tokenizer

    @classmethod
    @functools.cache
    def shipped(cls) -> StaticEmbedder:
        """The embedder from the installed wordllama wheel (loaded once per process)."""
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        root = _package_dir()
        try:
            table = load_file(str(root / WEIGHTS))["embedding.weight"].astype(np.float32)
            tokenizer = Tokenizer.from_file(str(root / TOKENIZER))
        except (OSError, KeyError, ValueError) as exc:
            raise EmbeddingsUnavailable(
                f"cannot read the wordllama weights in {root}: {exc}"
            ) from exc
        tokenizer.no_truncation()
        tokenizer.no_padding()
        return cls(table, tokenizer)

    @property
    def dimensions(self) -> int:
        return int(self._table.shape[1])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One unit row per text (a zero row for a text with no tokens)."""
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for lo in range(0, len(texts), BATCH):
            batch = list(texts[lo : lo + BATCH])
            encoded = self._tokenizer.encode_batch(batch, add_special_tokens=False)  # type: ignore[attr-defined]
            for row, enc in enumerate(encoded, lo):
                ids = np.clip(np.asarray(enc.ids, dtype=np.int64), 0, len(self._table) - 1)
                if len(ids):
                    out[row] = self._table[ids].mean(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        normalised: np.ndarray = np.divide(out, norms, out=out, where=norms > 0)
        return normalised


def embed_cached(embedder: StaticEmbedder, texts: Sequence[str]) -> np.ndarray:
    """`embedder.embed(texts)`, kept on disk under a hash of the texts (knowledge/disk_cache.py):
    embedding every phrasing is a third of a cold start, and the texts rarely change between runs
    (about 4 MB a set)."""
    vectors: np.ndarray = remembered(
        "phrasings",
        [str(WEIGHTS), *texts],
        lambda: embedder.embed(texts),
        read=lambda path: np.load(path, allow_pickle=False),
        write=lambda vectors, file: np.save(file, vectors),
        suffix=".npy",
        valid=lambda cached: cached.shape == (len(texts), embedder.dimensions),
    )
    return vectors


class SemanticIndex:
    """Every phrasing's vector; an entry's closeness to a question is its best phrasing's."""

    def __init__(
        self, embedder: StaticEmbedder, phrasings: Sequence[str], owners: np.ndarray, n_entries: int
    ):
        self._embedder = embedder
        self._vectors = embed_cached(embedder, phrasings)
        self._n_entries = n_entries
        owner_change = np.flatnonzero(
            np.concatenate(([len(owners) > 0], owners[1:] != owners[:-1]))
        )
        self._first = owner_change
        self._end = np.append(owner_change[1:], len(owners)).astype(np.int64)
        self._with_phrasings = owners[owner_change] if len(owners) else owners
        self._slot = np.full(n_entries, -1, dtype=np.int64)  # entry -> its run of phrasings
        self._slot[self._with_phrasings] = np.arange(len(owner_change))
        self._centroids: np.ndarray | None = None
        if len(owners) > EXACT_UP_TO and len(owner_change):
            sums = np.add.reduceat(self._vectors, owner_change, axis=0)
            norms = np.linalg.norm(sums, axis=1, keepdims=True)
            self._centroids = np.divide(sums, norms, out=sums, where=norms > 0)

    def vector(self, text: str) -> np.ndarray:
        vector: np.ndarray = self._embedder.embed([text])[0]
        return vector

    def similarities(self, query: np.ndarray) -> np.ndarray:
        """Per entry, the cosine between a question's vector and its closest phrasing (0 if none).
        Beyond EXACT_UP_TO phrasings, the cosine with the entry's mean phrasing instead (one
        vector per entry, not ten): `refined` then makes the candidates' values exact."""
        out = np.zeros(self._n_entries, dtype=np.float32)
        if not len(self._vectors):
            return out
        if self._centroids is not None:
            out[self._with_phrasings] = self._centroids @ query
            return out
        per_phrasing = self._vectors @ query
        out[self._with_phrasings] = np.maximum.reduceat(per_phrasing, self._first)
        return out

    def refined(
        self, query: np.ndarray, entries: Sequence[int], similarities: np.ndarray
    ) -> np.ndarray:
        """`similarities` with the given entries' values exact (best phrasing)."""
        if self._centroids is None:
            return similarities
        out = similarities.copy()
        for entry in entries:
            slot = self._slot[entry]
            if slot >= 0:
                out[entry] = float(
                    (self._vectors[self._first[slot] : self._end[slot]] @ query).max()
                )
        return out
