"""The unanswered questions (/gaps) as a maintainer wants to read them: near-duplicates grouped,
and those an entry now answers left out.

Two questions are near-duplicates when their content words (stemmed, stopwords dropped, in any
order) nearly coincide by rapidfuzz: token_set_ratio ≥ SAME_SET (one's words are, up to typos,
among the other's) and token_sort_ratio ≥ SAME_ORDER (so a one-word question does not swallow
every longer one that contains its word). "Chennai H-1B stamping wait time" and "how long is the
wait for H-1B stamping in Chennai" group; "what is the weather in Beijing" and "… in Shanghai" do
not. Grouping is for reading: the maintainer sees every question of a group before acting on it.
A group's count is the sum of its questions' counts; the most asked question leads it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz

from knowledge.matcher import Matcher, Outcome
from knowledge.normalize import content_of, fold, split_canonical

SAME_SET, SAME_ORDER = 85, 70


@dataclass(frozen=True)
class Gap:
    """One row of the unanswered list."""

    row_id: int
    key: str
    text: str
    count: int
    last_seen: str

    @classmethod
    def of(cls, row: dict[str, object]) -> Gap:
        return cls(
            int(str(row["id"])),
            str(row["key"]),
            " ".join(str(row["text"]).split()),
            int(str(row["count"])),
            str(row["last_seen"]),
        )


@dataclass(frozen=True)
class Cluster:
    gaps: tuple[Gap, ...]  # the most asked first

    @property
    def lead(self) -> Gap:
        return self.gaps[0]

    @property
    def count(self) -> int:
        return sum(g.count for g in self.gaps)

    @property
    def last_seen(self) -> str:
        return max(g.last_seen for g in self.gaps)


def _words(text: str) -> str:
    return " ".join(sorted(content_of(split_canonical(fold(text)))))


def near_duplicates(a: str, b: str) -> bool:
    wa, wb = _words(a), _words(b)
    if not wa or not wb:
        return fold(a) == fold(b)
    return fuzz.token_set_ratio(wa, wb) >= SAME_SET and fuzz.token_sort_ratio(wa, wb) >= SAME_ORDER


def cluster(gaps: Iterable[Gap]) -> list[Cluster]:
    """Group near-duplicates (each joins the first group whose lead it nearly repeats); groups
    ordered by total count, then by their latest question."""
    groups: list[list[Gap]] = []
    for gap in sorted(gaps, key=lambda g: (-g.count, g.row_id)):
        home = next((g for g in groups if near_duplicates(g[0].text, gap.text)), None)
        if home is None:
            groups.append([gap])
        else:
            home.append(gap)
    clusters = sorted((Cluster(tuple(g)) for g in groups), key=lambda c: c.last_seen, reverse=True)
    return sorted(clusters, key=lambda c: -c.count)  # stable: the latest first among equal counts


def unanswered(gaps: Iterable[Gap], matcher: Matcher) -> tuple[list[Gap], int]:
    """The gaps the knowledge base still does not answer, and how many it now answers (hidden:
    they stay in the database and come back if the answering entry goes)."""
    still, answered = [], 0
    for gap in gaps:
        if matcher.match(gap.text).outcome is Outcome.ANSWER:
            answered += 1
        else:
            still.append(gap)
    return still, answered
