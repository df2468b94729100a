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
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from knowledge.publishers import tier_of_url

MAX_ANSWER_CHARS = 900
MAX_SUMMARY_CHARS = 640
MIN_ALTERNATES = 3
HTTP_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$")
# The validation context key under which the loader passes the shared caveats
# (knowledge/caveats.py), so a caveat item {ref: <id>} resolves to its text.
SHARED_CAVEATS = "shared_caveats"

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=48)]
NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


def resolve_shared(item: object, info: ValidationInfo, lang: str) -> object:
    """A caveat item {ref: <id>} as the shared caveat's text in `lang` (knowledge/caveats.py).
    Without the table in the context (an entry built in code) a reference is refused."""
    table = (info.context or {}).get(SHARED_CAVEATS)
    if table is not None:
        return table.resolve(item, lang)
    if isinstance(item, dict):
        raise ValueError(
            "a shared caveat {ref: <id>} is resolved only when loaded from a knowledge folder"
        )
    return item


# One caveat: its text, or a reference to a shared caveat, resolved to the English text.
Caveat = Annotated[NonEmpty, BeforeValidator(lambda item, info: resolve_shared(item, info, "en"))]


class Topic(StrEnum):
    K_VISA = "k-visa"
    H1B = "h1b"
    COMPARE = "compare"
    CONTEXT = "context"


class Status(StrEnum):
    """How firmly the answer is established."""

    OFFICIAL = "official"  # stated by the authority itself
    REPORTED = "reported"  # media, law firms or universities report it; we cite no official text
    UNCLEAR = "unclear"  # sources conflict
    PENDING = "pending"  # the authority has not published it


class Tier(StrEnum):
    OFFICIAL = "official"
    COPY_OF_OFFICIAL = "copy-of-official"
    EDUCATION = "education"  # universities and international-education associations (NAFSA)
    LAW_FIRM = "law-firm"
    NEWS = "news"


# The tiers whose text is the authority's own: only these back an "official" status.
OFFICIAL_TIERS = (Tier.OFFICIAL, Tier.COPY_OF_OFFICIAL)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    title: NonEmpty
    publisher: NonEmpty
    url: NonEmpty
    date: dt.date | Literal["n.d."]
    approximate: bool = False  # the date was inferred from the page ("c. Oct 2025")
    tier: Tier
    # The copy actually read when the official page (url) could not be reached; only with tier
    # official, so the citation names the authority and the provenance stays visible.
    via: str | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not HTTP_URL.match(url):
            raise ValueError(f"not an http(s) URL: {url!r}")
        return url

    @field_validator("via")
    @classmethod
    def _http_via(cls, via: str | None) -> str | None:
        if via is not None and not HTTP_URL.match(via):
            raise ValueError(f"via is not an http(s) URL: {via!r}")
        return via

    @model_validator(mode="after")
    def _tier_matches_publisher(self) -> Source:
        """The tier is the publisher's (knowledge/publishers.yaml), never the citer's opinion."""
        listed = tier_of_url(self.url)
        if listed is None and self.tier in OFFICIAL_TIERS:
            raise ValueError(
                f"tier {self.tier.value} needs a publisher listed as such in knowledge/publishers.yaml: {self.url}"
            )
        if listed is not None and listed != self.tier.value:
            raise ValueError(
                f"tier {self.tier.value} contradicts knowledge/publishers.yaml ({listed}) for {self.url}"
            )
        if self.via is not None and self.tier is not Tier.OFFICIAL:
            raise ValueError("via (the copy read) is only for a source of tier official")
        return self

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
    answer: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_ANSWER_CHARS)
    ]
    # The answer's short form for a phone's first screen, only where the answer is very long: the
    # same facts a user needs to act, fewer words. The full answer is one tap away.
    summary: (
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_SUMMARY_CHARS),
        ]
        | None
    ) = None
    caveats: list[Caveat] = Field(default_factory=list)
    status: Status
    sources: list[Source] = Field(min_length=1)
    as_of: dt.date
    verified_on: dt.date
    review_after_days: int = Field(ge=1, le=3650)
    related: list[Slug] = Field(default_factory=list)
    history: list[HistoryEvent] = Field(default_factory=list)
    # The rule's own end ("12 months unless extended"). After it, until a maintainer updates the
    # entry, replies open with a lapse note naming in_force_check and show status unclear.
    in_force_until: dt.date | None = None
    in_force_check: str | None = None  # the official page that would show an extension

    @model_validator(mode="after")
    def _consistent(self) -> Entry:
        if self.id in self.related:
            raise ValueError("an entry cannot be related to itself")
        if len(set(self.related)) != len(self.related):
            raise ValueError("related lists an id twice")
        if self.summary is not None and len(self.summary) >= len(self.answer):
            raise ValueError("summary must be shorter than the answer it shortens")
        if self.verified_on < self.as_of:
            raise ValueError("verified_on is earlier than as_of")
        if (self.in_force_until is None) != (self.in_force_check is None):
            raise ValueError("in_force_until and in_force_check go together")
        if self.status is Status.OFFICIAL and not self.has_official_source:
            raise ValueError("status official needs a source of tier official or copy-of-official")
        return self

    @property
    def review_due(self) -> dt.date:
        return self.verified_on + dt.timedelta(days=self.review_after_days)

    def is_stale(self, today: dt.date | None = None) -> bool:
        return (today or dt.date.today()) > self.review_due

    def lapsed(self, today: dt.date | None = None) -> bool:
        """The rule's stated end has passed and nobody has updated the entry since."""
        return self.in_force_until is not None and (today or dt.date.today()) > self.in_force_until

    def shown_status(self, today: dt.date | None = None) -> Status:
        """The status users see: a lapsed rule is unclear whatever its sources said."""
        return Status.UNCLEAR if self.lapsed(today) else self.status

    @property
    def has_official_source(self) -> bool:
        return any(s.tier in OFFICIAL_TIERS for s in self.sources)
