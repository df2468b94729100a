"""Answer quality must not regress: the shared dev set and our own held-out golden set."""

from __future__ import annotations

from pathlib import Path

from knowledge.evaluation import evaluate, load_eval_items, load_golden_items
from knowledge.matcher import Matcher

DEV_SET = Path(__file__).resolve().parents[2] / "shared" / "eval" / "dev.yaml"
GOLDEN = Path(__file__).with_name("golden_questions.yaml")
GOLDEN_FLOOR = 0.90


def test_dev_set_combined_score_and_every_off_topic_declined(matcher: Matcher) -> None:
    report = evaluate(matcher, load_eval_items(DEV_SET))
    failures = "\n".join(f"{f.item.question!r}: {f.reason}" for f in report.failures)
    assert report.combined >= 0.95, failures
    assert report.decline_rate == 1.0, failures


def test_golden_set(matcher: Matcher) -> None:
    """Phrasings written without looking at the entries: typos, Hinglish, Chinese, long stories."""
    items = load_golden_items(GOLDEN)
    report = evaluate(matcher, items)
    detail = "\n".join(f"{f.item.question!r}: {f.reason}" for f in report.failures)
    assert report.combined >= GOLDEN_FLOOR, detail
    # A confident wrong answer is the costly failure: keep it rarer than declines.
    assert report.wrong_answers <= 0.05 * len(items), detail
