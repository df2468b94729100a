"""Pydantic models for one knowledge-base entry.

The model is the single gate every entry passes: shipped YAML files, entries added by
maintainers from Telegram or the CLI, and reloads. Field meanings are documented in
docs/maintainers.md.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

MAX_ANSWER_CHARS = 900
MIN_ALTERNATES = 3

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=48)]
NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Topic(StrEnum):
    K_VISA = "k-visa"
    H1B = "h1b"
    COMPARE = "compare"
    CONTEXT = "context"


class Status(StrEnum):
    """How firmly the answer is established."""

    OFFICIAL = "official"  # stated by the authority itself
    REPORTED = "reported"  # media or law firms report it; not confirmed officially
    UNCLEAR = "unclear"  # sources conflict
    PENDING = "pending"  # the authority has not published it


class Tier(StrEnum):
    OFFICIAL = "official"
    COPY_OF_OFFICIAL = "copy-of-official"
    LAW_FIRM = "law-firm"
    NEWS = "news"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    title: NonEmpty
    publisher: NonEmpty
    url: NonEmpty
    date: dt.date | Literal["n.d."]
    approximate: bool = False  # the date was inferred from the page ("c. Oct 2025")
    tier: Tier

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not re.match(r"^https?://[^\s/$.?#][^\s]*$", url):
            raise ValueError(f"not an http(s) URL: {url!r}")
        return url

    @field_validator("date", mode="before")
    @classmethod
    def _date_or_nd(cls, value: object) -> object:
        # YAML gives datetime.date for 2025-10-01 but a string for "n.d." or quoted dates.
        if isinstance(value, str) and value.strip() != "n.d.":
            return dt.date.fromisoformat(value.strip())
        return value


class HistoryEvent(_Strict):
    """One dated change of the official position, e.g. the H-1B payment's annual→one-time."""

    date: dt.date
    change: NonEmpty
    source: Source


class Entry(_Strict):
    id: Slug
    topic: Topic
    question: NonEmpty
    alternates: list[NonEmpty] = Field(min_length=MIN_ALTERNATES)
    keywords: list[NonEmpty] = Field(default_factory=list)
    answer: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_ANSWER_CHARS)]
    caveats: list[NonEmpty] = Field(default_factory=list)
    status: Status
    sources: list[Source] = Field(min_length=1)
    as_of: dt.date
    verified_on: dt.date
    review_after_days: int = Field(ge=1, le=3650)
    related: list[Slug] = Field(default_factory=list)
    history: list[HistoryEvent] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Entry:
        if self.id in self.related:
            raise ValueError("an entry cannot be related to itself")
        if len(set(self.related)) != len(self.related):
            raise ValueError("related lists an id twice")
        if self.verified_on < self.as_of:
            raise ValueError("verified_on is earlier than as_of")
        return self

    @property
    def review_due(self) -> dt.date:
        return self.verified_on + dt.timedelta(days=self.review_after_days)

    def is_stale(self, today: dt.date | None = None) -> bool:
        return (today or dt.date.today()) > self.review_due

    @property
    def has_official_source(self) -> bool:
        return any(s.tier in (Tier.OFFICIAL, Tier.COPY_OF_OFFICIAL) for s in self.sources)
