"""The shipped knowledge base: complete, sourced, honest about unofficial numbers."""

from __future__ import annotations

import re
from collections import Counter

from knowledge.loader import KnowledgeBase
from knowledge.model import Status, Topic

REQUIRED_IDS = {
    # K visa
    "k-visa-what-is-it", "k-visa-legal-basis", "k-visa-eligibility", "k-visa-well-known-institutions",
    "k-visa-age-limit", "k-visa-no-employer-needed", "k-visa-work-rights", "k-visa-fees",
    "k-visa-validity-entries-stay", "k-visa-documents", "k-visa-where-to-apply",
    "k-visa-switch-inside-china", "k-visa-quota", "k-visa-permanent-residence", "k-visa-family",
    "k-visa-incentives", "k-visa-mandarin", "k-visa-uptake", "k-visa-backlash", "k-visa-pending-details",
    "k-visa-vs-r-visa", "k-visa-vs-z-visa", "k-visa-vs-visa-free", "k-visa-not-us-k1", "k-visa-chinese-names",
    # H-1B payment
    "h1b-100k-fee-amount", "h1b-100k-one-time", "h1b-100k-who-pays", "h1b-100k-exemptions",
    "h1b-100k-existing-visa-holders", "h1b-100k-change-of-status", "h1b-100k-cap-exempt-employers",
    "h1b-100k-national-interest-exception", "h1b-100k-effective-date", "h1b-100k-payment-paygov",
    "h1b-100k-duration", "h1b-100k-lawsuits",
    # H-1B basics
    "h1b-cap", "h1b-masters-cap", "h1b-cap-exempt-employers", "h1b-registration-fee", "h1b-timeline",
    "h1b-weighted-selection", "h1b-selection-odds-by-wage", "h1b-cap-gap", "h1b-duration",
    "h1b-beyond-six-years", "h1b-dual-intent", "h1b-sponsorship", "h1b-lca-prevailing-wage",
    "h1b-specialty-occupation", "h1b-degree-equivalent", "h1b-h4-dependents", "h1b-h4-ead",
    "h1b-grace-period", "h1b-portability", "h1b-filing-fees", "h1b-stats-country",
    "h1b-project-firewall", "h1b-dol-wage-rule", "h1b-alternatives", "h1b-o1", "h1b-l1", "h1b-eb2-niw",
    "h1b-tn", "h1b-other-countries",
    # comparison and context
    "compare-k-vs-h1b", "compare-timing", "compare-china-h1b-label", "context-china-foreigners",
    "context-us-immigrant-population", "context-visa-free-china",
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


def test_unpublished_k_visa_details_are_not_presented_as_official(shipped_kb: KnowledgeBase) -> None:
    for entry_id in ["k-visa-age-limit", "k-visa-fees", "k-visa-validity-entries-stay", "k-visa-quota"]:
        entry = shipped_kb.by_id[entry_id]
        assert entry.status in (Status.PENDING, Status.UNCLEAR), entry_id
        text = " ".join([entry.answer, *entry.caveats]).lower()
        assert re.search(r"not (yet )?(been )?(officially )?(published|announced|specified|set)|unofficial|\bno\b[^.]{0,40}(announced|published|specified)", text), entry_id


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
    with_chinese = [e for e in k_entries if any(re.search(r"[\u4e00-\u9fff]", a) for a in e.alternates)]
    assert len(with_chinese) >= len(k_entries) // 2
