"""The shipped knowledge base: complete, sourced, honest about unofficial numbers."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter

import pytest
from pydantic import ValidationError

from knowledge.loader import KnowledgeBase
from knowledge.model import OFFICIAL_TIERS, Entry, Source, Status, Topic
from knowledge.publishers import tier_of_url

REQUIRED_IDS = {
    # K visa
    "k-visa-what-is-it",
    "k-visa-legal-basis",
    "k-visa-eligibility",
    "k-visa-well-known-institutions",
    "k-visa-age-limit",
    "k-visa-no-employer-needed",
    "k-visa-work-rights",
    "k-visa-fees",
    "k-visa-validity-entries-stay",
    "k-visa-documents",
    "k-visa-where-to-apply",
    "k-visa-switch-inside-china",
    "k-visa-quota",
    "k-visa-permanent-residence",
    "k-visa-family",
    "k-visa-incentives",
    "k-visa-mandarin",
    "k-visa-uptake",
    "k-visa-backlash",
    "k-visa-pending-details",
    "k-visa-vs-r-visa",
    "k-visa-vs-z-visa",
    "k-visa-vs-visa-free",
    "k-visa-not-us-k1",
    "k-visa-chinese-names",
    # H-1B payment
    "h1b-100k-fee-amount",
    "h1b-100k-one-time",
    "h1b-100k-who-pays",
    "h1b-100k-exemptions",
    "h1b-100k-existing-visa-holders",
    "h1b-100k-change-of-status",
    "h1b-100k-cap-exempt-employers",
    "h1b-100k-national-interest-exception",
    "h1b-100k-effective-date",
    "h1b-100k-payment-paygov",
    "h1b-100k-duration",
    "h1b-100k-lawsuits",
    # H-1B basics
    "h1b-cap",
    "h1b-masters-cap",
    "h1b-cap-exempt-employers",
    "h1b-registration-fee",
    "h1b-timeline",
    "h1b-weighted-selection",
    "h1b-selection-odds-by-wage",
    "h1b-cap-gap",
    "h1b-duration",
    "h1b-beyond-six-years",
    "h1b-dual-intent",
    "h1b-sponsorship",
    "h1b-lca-prevailing-wage",
    "h1b-specialty-occupation",
    "h1b-degree-equivalent",
    "h1b-h4-dependents",
    "h1b-h4-ead",
    "h1b-grace-period",
    "h1b-portability",
    "h1b-filing-fees",
    "h1b-stats-country",
    "h1b-project-firewall",
    "h1b-dol-wage-rule",
    "h1b-alternatives",
    "h1b-o1",
    "h1b-l1",
    "h1b-eb2-niw",
    "h1b-tn",
    "h1b-other-countries",
    # comparison and context
    "compare-k-vs-h1b",
    "compare-timing",
    "compare-china-h1b-label",
    "context-china-foreigners",
    "context-us-immigrant-population",
    "context-visa-free-china",
}


def test_at_least_90_entries_covering_every_required_topic(shipped_kb: KnowledgeBase) -> None:
    assert len(shipped_kb.entries) >= 90
    assert REQUIRED_IDS <= set(shipped_kb.by_id), sorted(REQUIRED_IDS - set(shipped_kb.by_id))
    topics = Counter(e.topic for e in shipped_kb.entries)
    assert all(topics[t] > 0 for t in Topic)


def test_every_entry_is_sourced_and_dated(shipped_kb: KnowledgeBase) -> None:
    for entry in shipped_kb.entries:
        assert entry.sources, entry.id
        assert all(s.url.startswith(("http://", "https://")) for s in entry.sources), entry.id
        assert entry.as_of <= entry.verified_on, entry.id
        assert len(entry.alternates) >= 3, entry.id


def test_no_lookalike_government_mirrors_cited(shipped_kb: KnowledgeBase) -> None:
    for entry in shipped_kb.entries:
        for source in entry.sources:
            assert "usciss.us" not in source.url, entry.id


def test_unpublished_k_visa_details_are_not_presented_as_official(
    shipped_kb: KnowledgeBase,
) -> None:
    for entry_id in [
        "k-visa-age-limit",
        "k-visa-fees",
        "k-visa-validity-entries-stay",
        "k-visa-quota",
    ]:
        entry = shipped_kb.by_id[entry_id]
        assert entry.status in (Status.PENDING, Status.UNCLEAR), entry_id
        text = " ".join([entry.answer, *entry.caveats]).lower()
        assert re.search(
            r"not (yet )?(been )?(officially )?(published|announced|specified|set)|unofficial|\bno\b[^.]{0,40}(announced|published|specified)",
            text,
        ), entry_id


def test_age_numbers_in_circulation_are_labelled_unofficial(shipped_kb: KnowledgeBase) -> None:
    entry = shipped_kb.by_id["k-visa-age-limit"]
    text = " ".join([entry.answer, *entry.caveats]).lower()
    assert "45" in text and "unofficial" in text


def test_payment_history_records_each_change_of_position(shipped_kb: KnowledgeBase) -> None:
    history = shipped_kb.by_id["h1b-100k-one-time"].history
    assert [h.date.isoformat() for h in history][:3] == ["2025-09-19", "2025-09-20", "2025-10-20"]


def test_answers_fit_a_phone_screen(shipped_kb: KnowledgeBase) -> None:
    assert all(len(e.answer) <= 900 for e in shipped_kb.entries)


def test_chinese_alternates_exist_for_k_visa(shipped_kb: KnowledgeBase) -> None:
    k_entries = [e for e in shipped_kb.entries if e.topic is Topic.K_VISA]
    with_chinese = [
        e for e in k_entries if any(re.search(r"[\u4e00-\u9fff]", a) for a in e.alternates)
    ]
    assert len(with_chinese) >= len(k_entries) // 2


# ---- honest labels and dates (issue 10)


def _cited(entry: Entry) -> list[Source]:
    return [*entry.sources, *(h.source for h in entry.history)]


def test_every_cited_publisher_is_in_the_table_with_the_same_tier(
    shipped_kb: KnowledgeBase,
) -> None:
    for entry in shipped_kb.entries:
        for source in _cited(entry):
            assert tier_of_url(source.url) == source.tier.value, (entry.id, source.url)


def test_same_article_same_tier_everywhere(shipped_kb: KnowledgeBase) -> None:
    tiers: dict[str, set[str]] = {}
    for entry in shipped_kb.entries:
        for source in _cited(entry):
            tiers.setdefault(source.url, set()).add(source.tier.value)
    assert tiers["https://www.stdaily.com/web/English/2025-08/16/content_386163.html"] == {"news"}
    assert {url: t for url, t in tiers.items() if len(t) > 1} == {}


def test_official_status_rests_on_an_official_tier_source(shipped_kb: KnowledgeBase) -> None:
    official = [e for e in shipped_kb.entries if e.status is Status.OFFICIAL]
    assert official and all(e.has_official_source for e in official)
    assert (
        shipped_kb.by_id["h1b-100k-one-time"].status is Status.REPORTED
    )  # law firms and news only


def test_model_refuses_a_tier_the_table_contradicts() -> None:
    base = {"title": "t", "publisher": "p", "date": "2025-10-01"}
    with pytest.raises(ValidationError, match="contradicts"):
        Source.model_validate(base | {"url": "https://www.fragomen.com/x", "tier": "official"})
    with pytest.raises(ValidationError, match="contradicts"):
        Source.model_validate(
            base | {"url": "https://www.stdaily.com/x", "tier": "copy-of-official"}
        )
    with pytest.raises(ValidationError, match="needs a publisher listed"):
        Source.model_validate(base | {"url": "https://unknown.example/x", "tier": "official"})
    with pytest.raises(ValidationError, match="only for a source of tier official"):
        Source.model_validate(
            base
            | {
                "url": "https://www.gwgpac.org/x",
                "tier": "copy-of-official",
                "via": "https://a.example/",
            }
        )
    read_through = Source.model_validate(
        base
        | {
            "url": "https://www.gov.cn/x",
            "tier": "official",
            "via": "http://www.03j9n.cn/law/1/50363.html",
        }
    )
    assert read_through.via and tier_of_url("https://english.beijing.gov.cn/x") == "official"
    assert tier_of_url("https://webarchive.library.unt.edu/x") == "copy-of-official"  # before edu
    assert tier_of_url("https://isss.temple.edu/x") == "education"


def test_model_refuses_status_official_without_official_source(shipped_kb: KnowledgeBase) -> None:
    data = shipped_kb.by_id["h1b-100k-one-time"].model_dump()
    # Whatever the shipped entry cites, keep only its unofficial sources.
    unofficial = [s for s in data["sources"] if s["tier"] not in OFFICIAL_TIERS]
    assert unofficial
    with pytest.raises(ValidationError, match="status official needs"):
        Entry.model_validate(data | {"status": "official", "sources": unofficial})


def test_as_of_is_not_later_than_the_newest_dated_source(shipped_kb: KnowledgeBase) -> None:
    for entry in shipped_kb.entries:
        dates = [s.date for s in _cited(entry) if isinstance(s.date, dt.date)]
        assert not dates or entry.as_of <= max(dates), entry.id
    assert shipped_kb.by_id["compare-work-rights"].as_of == dt.date(2025, 10, 15)


def test_no_bulk_verification_stamp(shipped_kb: KnowledgeBase) -> None:
    stamped = [e.id for e in shipped_kb.entries if e.verified_on == dt.date(2026, 11, 25)]
    assert stamped == []
