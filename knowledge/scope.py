"""What a question names: the H-1B, the K visa, China, the US, something we do not cover; and
whether it is small talk. The vocabulary is data (knowledge/scope.yaml); this module only reads it.

Signals are evidence for the decision model, not rules: "k1 visa for my fiancee" names something
else and none of our visas, which the model has learnt makes any answer unlikely to be right.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from knowledge.entry_file import safe_load
from knowledge.model import Topic
from knowledge.normalize import INSIDE_WORDS_RE, STOPWORDS, Normalizer, fold

SCOPE_FILENAME = "scope.yaml"
SIGNALS = ("h1b", "k_visa", "china", "k_traits", "comparing", "elsewhere")  # "us": us_as_written
_MAX_TERM_WORDS = 4
SMALLTALK_MAX_WORDS = 8


class SmallTalk(StrEnum):
    GREETING = "greeting"
    THANKS = "thanks"
    IDENTITY = "identity"


@dataclass(frozen=True)
class Signals:
    """What one question names."""

    h1b: bool = False
    k_visa: bool = False
    china: bool = False
    us: bool = False
    k_traits: bool = False
    comparing: bool = False
    elsewhere: bool = False

    @property
    def names_ours(self) -> bool:
        return self.h1b or self.k_visa

    @property
    def asked_about(self) -> Topic | None:
        """The visa the question is about, as far as its words say: both, one, or neither."""
        k_side = self.k_visa or (self.china and self.k_traits and not self.h1b)
        if k_side and self.h1b:
            return Topic.COMPARE
        if k_side:
            return Topic.K_VISA
        return Topic.H1B if self.h1b else None

    def topic_agreement(self, topic: Topic) -> float:
        """+1 when the question names the entry's topic, -1 when it names only the other side (or
        only somewhere else), 0 when it names nothing either way."""
        if self.elsewhere and not (self.names_ours or self.china):
            return -1.0  # "UK skilled worker visa"; but "visa-free China for Japanese" is ours
        if topic is Topic.COMPARE:  # about both visas, so naming one rules nothing out
            if self.h1b and self.k_visa:
                return 1.0
            return 0.5 if self.comparing and (self.names_ours or self.china) else 0.0
        k_side = self.k_visa or (self.china and self.k_traits and not self.h1b)
        us_side = self.h1b or (self.us and not self.china and not self.k_visa)
        if topic is Topic.K_VISA:
            return 1.0 if k_side else (-1.0 if us_side else 0.0)
        if topic is Topic.H1B:
            return 1.0 if us_side else (-1.0 if k_side else 0.0)
        return 0.0  # context entries sit between the two


class Scope:
    """The scope vocabulary, normalised like questions are."""

    def __init__(self, vocabulary: Mapping[str, object], normalizer: Normalizer):
        self._normalizer = normalizer
        self._latin: dict[str, set[str]] = {}  # canonical term -> signals it raises
        self._inside: dict[str, set[str]] = {}  # Chinese, Japanese, Korean: inside words
        for signal in SIGNALS:
            for term in _terms(vocabulary, signal):
                canon = normalizer.canonical(term)
                if canon:
                    (self._inside if INSIDE_WORDS_RE.search(canon) else self._latin).setdefault(
                        canon, set()
                    ).add(signal)
        self._us_as_written = re.compile(
            "|".join(
                rf"(?<![A-Za-z]){re.escape(t)}(?![A-Za-z])"
                for t in _terms(vocabulary, "us_as_written")
            )
            or r"(?!x)x"
        )
        talk = vocabulary.get("smalltalk") or {}
        if not isinstance(talk, Mapping):
            raise ValueError("scope: smalltalk must map kinds to phrase lists")
        self._smalltalk = {
            fold(p): SmallTalk(kind) for kind, items in talk.items() for p in items or ()
        }
        longest_first = sorted(self._smalltalk, key=len, reverse=True)
        self._smalltalk_re = re.compile(
            "|".join(rf"(?<!\w){re.escape(p)}(?!\w)" for p in longest_first) or r"(?!x)x"
        )

    def signals(self, canonical: str, raw: str) -> Signals:
        """The signals in a question: its canonical text (Normalizer.canonical) and raw text."""
        found = {signal for hit in self._hits(canonical).values() for signal in hit}
        if self._us_as_written.search(raw):
            found.add("us")
        return Signals(**dict.fromkeys(found, True))

    def visa_terms(self, canonical: str) -> list[str]:
        """The terms in a canonical text that name a visa or China ("k visa", "h1b", "100k")."""
        return [
            term for term, hit in self._hits(canonical).items() if hit & {"h1b", "k_visa", "china"}
        ]

    def _hits(self, canonical: str) -> dict[str, set[str]]:
        hits: dict[str, set[str]] = {}
        words = canonical.split()
        for n in range(1, _MAX_TERM_WORDS + 1):
            for i in range(len(words) - n + 1):
                term = " ".join(words[i : i + n])
                hit = self._latin.get(term)
                if hit:
                    hits[term] = hit
        if not canonical.isascii():
            for term, hit in self._inside.items():
                if term in canonical:
                    hits[term] = hit
        return hits

    def smalltalk(self, text: str) -> SmallTalk | None:
        """The kind of small talk when the message holds nothing else ("hello", "thanks!")."""
        folded = fold(text)
        if not folded or folded.count(" ") >= SMALLTALK_MAX_WORDS:  # a question, not a hello
            return None
        kinds = {self._smalltalk[phrase] for phrase in self._smalltalk_re.findall(folded)}
        if not kinds:
            return None
        rest = self._smalltalk_re.sub(" ", folded).split()
        if any(word not in STOPWORDS and word not in {"bot", "visabot"} for word in rest):
            return None
        for kind in (SmallTalk.IDENTITY, SmallTalk.THANKS, SmallTalk.GREETING):
            if kind in kinds:
                return kind
        return None


def _terms(vocabulary: Mapping[str, object], key: str) -> Sequence[str]:
    terms = vocabulary.get(key) or []
    if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
        raise ValueError(f"scope: {key} must be a list of strings")
    return terms


def load_scope_vocabulary(directory: Path) -> dict[str, object]:
    """The raw scope vocabulary of a knowledge directory (empty when it has none)."""
    path = directory / SCOPE_FILENAME
    if not path.exists():
        return {}
    data = safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of signal names to word lists")
    return data
