"""Dated rules (issue 10 point 3): after in_force_until every reply opens with the lapse line and
shows status unclear; before it, nothing changes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from bot.replies.plain import entry_as_text, result_as_dict
from bot.replies.telegram_view import entry_blocks, entry_view_messages
from knowledge.lint import lapsed as lapsed_findings
from knowledge.lint import lint
from knowledge.loader import KnowledgeBase, load_knowledge_base
from knowledge.matcher import Matcher

BEFORE, AFTER = dt.date(2026, 9, 21), dt.date(2026, 9, 22)
LINE = "⏳ This rule was set to end on 21 Sep 2026 unless extended"


def test_lapsed_rule_opens_every_reply_and_shows_unclear(shipped_kb: KnowledgeBase) -> None:
    entry = shipped_kb.by_id["h1b-100k-fee-amount"]
    assert entry.in_force_until == BEFORE
    assert entry_as_text(entry, today=AFTER).startswith(LINE)
    assert "⚖️ Unclear: the rule may have lapsed" in entry_as_text(entry, today=AFTER)
    assert "sources conflict" not in entry_as_text(
        entry, today=AFTER
    )  # the badge names the real reason
    assert LINE not in entry_as_text(entry, today=BEFORE) and "✅ Official" in entry_as_text(
        entry, today=BEFORE
    )
    first_screen = entry_view_messages(entry, today=AFTER)[0]  # what Telegram users see first
    assert first_screen.startswith(f"<b>{LINE}") and "⚖️ Unclear" in first_screen
    assert LINE not in entry_view_messages(entry, today=BEFORE)[0]
    blocks = entry_blocks(entry, AFTER)
    assert LINE in blocks[0].html and "uscis.gov" in blocks[0].html
    assert any("⚖️ Unclear: the rule may have lapsed" in b.html for b in blocks)
    assert not any(LINE in b.html for b in entry_blocks(entry, BEFORE))


def test_ask_json_reports_the_status_shown(shipped_kb: KnowledgeBase) -> None:
    result = Matcher(shipped_kb).match("how much is the h1b 100k fee")
    assert result.entry is not None and result.entry.in_force_until == BEFORE
    after, before = result_as_dict(result, today=AFTER), result_as_dict(result, today=BEFORE)
    assert after["status"] == "unclear" and after["in_force_until"] == "2026-09-21"
    assert str(after["lapse_note"]).startswith(LINE)
    assert before["status"] == result.entry.status.value and before["lapse_note"] is None


def test_lint_lists_lapsed_entries_first_as_warnings(
    shipped_kb: KnowledgeBase, few_kb_dir: Path
) -> None:
    few = load_knowledge_base(few_kb_dir)  # a few entries, some lapsing: lint asks every phrasing
    findings = lint(Matcher(few), AFTER)
    lapsed = [f for f in findings if f.kind == "lapsed"]
    assert lapsed and findings[: len(lapsed)] == lapsed and not any(f.is_error for f in lapsed)
    assert len(findings) > len(lapsed)  # first among others
    assert lapsed == lapsed_findings(few.entries, AFTER)
    assert lapsed_findings(shipped_kb.entries, AFTER) and not lapsed_findings(
        shipped_kb.entries, BEFORE
    )
