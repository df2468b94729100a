"""The answer's first screen on a phone (issue 12 point 1): short, with the rest one tap away.

Measured with the shipped entries on 2026-12-04 (the $100,000 entries past their end, 109 entries
past their review date, both shown on the first screen), visible characters as Telegram counts
them (UTF-16 units after entity parsing):

    before: English median 1,061, max 1,418; 17 of 134 first screens ≤ 900
            Chinese median   427, max 1,176; 121 of 134 ≤ 900
    after:  English median   885, max 1,041; 75 of 134 ≤ 900
            Chinese median   395, max 1,057; 126 of 134 ≤ 900

What changed: one status line (short badge · as-of date · review note · "not legal advice")
instead of a status block, a footer and a sentence-long review note; the lapse line links the page
to check instead of printing its URL; the 12 caveats the entries repeated live once
(knowledge/caveats.yaml); and the 51 longest English answers have a `summary` stating the facts
a user needs to act (every number in it is one the answer states: `kb lint`), the full answer
being one tap away ("📖 Full answer", or any other expand button). The Chinese answers, about
half as long, are shown whole.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import statistics
import subprocess
import sys
from pathlib import Path

from bot.i18n import Lang, entry_text
from bot.replies.html_check import validate_telegram_html, visible_length
from bot.replies.plain import entry_as_text
from bot.replies.telegram_view import View, entry_view_messages
from handlers.entry_steps import EntryDraft
from knowledge.authoring import build_entry
from knowledge.lint import summaries
from knowledge.loader import KnowledgeBase
from tests.bot_harness import assert_valid_reply, running_bot
from tests.fake_telegram import FakeTelegram
from tests.test_telegram_chat import ask, buttons, press

MEASURED_ON = dt.date(2026, 12, 4)
MEDIAN_LIMIT = 900
HARD_CAP = 1_100  # no first screen longer than this, in either language


def first_screens(base: KnowledgeBase, lang: Lang) -> dict[str, str]:
    return {
        e.id: entry_view_messages(e, View.SHORT, MEASURED_ON, entry_text(e, lang, base.chinese))[0]
        for e in base.entries
    }


def test_the_typical_first_screen_fits_a_phone(shipped_kb: KnowledgeBase) -> None:
    for lang in (Lang.EN, Lang.ZH):
        screens = first_screens(shipped_kb, lang)
        lengths = {entry_id: visible_length(text) for entry_id, text in screens.items()}
        assert statistics.median(lengths.values()) <= MEDIAN_LIMIT, lang
        assert {i: n for i, n in lengths.items() if n > HARD_CAP} == {}, lang
        assert all(validate_telegram_html(text) == [] for text in screens.values())
        assert all(len(entry_view_messages(e, View.SHORT, MEASURED_ON)) == 1 for e in shipped_kb.entries)


def test_the_first_screen_keeps_what_a_user_acts_on(shipped_kb: KnowledgeBase) -> None:
    """The key caveat, the status and date, and the disclaimer stay; the summary is there only
    where it was written and says nothing the answer does not."""
    for entry in shipped_kb.entries:
        text = entry_view_messages(entry, View.SHORT, MEASURED_ON)[0]
        shown = html.escape(entry.summary or entry.answer, quote=True)
        assert shown in text and (entry.summary is None or html.escape(entry.answer, quote=True) not in text)
        assert not entry.caveats or f"⚠️ {html.escape(entry.caveats[0], quote=True)}" in text
        assert f"As of {entry.as_of.isoformat()}" in text and "not legal advice" in text
    assert summaries(list(shipped_kb.entries)) == []
    with_summary = [e for e in shipped_kb.entries if e.summary]
    assert len(with_summary) >= 40 and all(len(e.answer) >= 620 for e in with_summary)


def test_a_summary_that_adds_a_number_is_a_lint_error(shipped_kb: KnowledgeBase) -> None:
    entry = shipped_kb.by_id["h1b-100k-who-pays"]
    wrong = entry.model_copy(update={"summary": "The employer pays it, within 30 days."})
    (finding,) = summaries([wrong])
    assert finding.is_error and "['30']" in finding.detail


async def test_full_answer_button_expands_the_summary_in_place(fake_telegram: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(fake_telegram, tmp_path) as app:
        (reply,) = await ask(fake_telegram, "who pays the h1b $100,000 fee, the employer or the worker?")
        entry = app.bot_data.matcher.base.get("h1b-100k-who-pays")
        assert html.escape(entry.summary, quote=True) in reply.text
        assert html.escape(entry.answer, quote=True) not in reply.text
        expand = [(b["text"], b["callback_data"]) for b in buttons(reply) if b["callback_data"].startswith("x:")]
        assert expand[:3] == [
            ("📖 Full answer", "x:h1b-100k-who-pays:f"),
            (f"⚠️ {len(entry.caveats) - 1} more caveats", "x:h1b-100k-who-pays:c"),
            ("📚 Sources", "x:h1b-100k-who-pays:r"),
        ]
        await press(fake_telegram, "x:h1b-100k-who-pays:f", reply)
        (full,) = await fake_telegram.wait_for("editMessageText", count=1)
        await press(fake_telegram, "x:h1b-100k-who-pays:s", reply)
        short = (await fake_telegram.wait_for("editMessageText", count=2))[-1]
    assert html.escape(entry.answer, quote=True) in full.text
    assert all(html.escape(c, quote=True) in full.text for c in entry.caveats)
    assert "📖 Full answer" not in [b["text"] for b in buttons(full)]
    assert_valid_reply(full.text)
    assert short.text == reply.text


def test_terminal_first_screen_gives_the_summary_and_more_the_full_answer(shipped_kb: KnowledgeBase) -> None:
    entry = shipped_kb.by_id["h1b-100k-who-pays"]
    first = entry_as_text(entry, all_caveats=False, sources=False)
    assert entry.summary is not None and entry.summary[:60] in first and entry.answer[:200] not in first.replace("\n", " ")
    assert "`more` for the full answer and" in first
    more = entry_as_text(entry, all_caveats=True, sources=False)
    assert entry.answer[-60:] in more.replace("\n", " ")
    zh = entry_as_text(entry, False, False, Lang.ZH, shipped_kb.chinese)
    assert shipped_kb.chinese[entry.id].answer[:12] in zh and "the full answer" not in zh  # Chinese: all of it


def test_ask_json_gives_resolved_caveats_and_the_summary() -> None:
    out = subprocess.run(
        [str(Path(sys.executable).parent / "visabot"), "ask", "--json", "who pays the h1b 100k fee employer or worker"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["id"] == "h1b-100k-who-pays"
    assert all(isinstance(c, str) and "ref" not in c for c in data["caveats"])
    assert any(c.startswith("The payment is contested in court.") for c in data["caveats"])
    assert data["summary"] and data["answer"].startswith("The employer (the petitioner) pays it.")


def test_an_edit_keeps_the_summary_only_while_the_answer_stands(shipped_kb: KnowledgeBase) -> None:
    """/edit of another field keeps the summary; a new answer drops it, so the first screen never
    shows a short form of an answer that no longer exists."""
    entry = shipped_kb.by_id["h1b-100k-who-pays"]
    day = dt.date(2026, 12, 4)
    draft = EntryDraft.editing(entry)
    draft.alternates = [*draft.alternates, "who foots the 100k bill"]
    assert build_entry(draft, entry.id, day, entry).summary == entry.summary
    draft.answer = "The employer pays it."
    assert build_entry(draft, entry.id, day, entry).summary is None
