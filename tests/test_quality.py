"""Answer quality must not regress: the dev set, the regression set and the real questions' train
half. The locked test half is scored by `make bench` (bench/RESULTS.md), never here: a floor on
it would invite tuning on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.evaluation import EvalReport, evaluate, load_eval_items
from knowledge.matcher import Matcher

EVAL = Path(__file__).resolve().parents[1] / "eval"
DEV_SET = EVAL / "dev.yaml"
REGRESSION_SET = EVAL / "regression.yaml"
REAL_TRAIN = EVAL / "real" / "train.yaml"
# The matcher this one replaced scored 0.913 on the regression set (bench/RESULTS.md at f094a5e).
REGRESSION_FLOOR = 0.913
# The train half as measured when the decision was last calibrated (39% right, 2.6% wrong, 98%
# declined): a floor against regressions, not the goal (issue 9 asks 85% on the test half). It is
# in-sample, so it fell from 44% when the calibration stopped overfitting the train half: held-out
# by site (`visabot kb calibrate` prints it), right answers rose from 47 to 62 of 155.
REAL_TRAIN_FLOOR = 0.38


def _detail(report: EvalReport) -> str:
    return "\n".join(f"{f.item.question!r}: {f.reason}" for f in report.failures)


def test_dev_set_combined_score_and_every_off_topic_declined(matcher: Matcher) -> None:
    report = evaluate(matcher, load_eval_items(DEV_SET))
    assert report.combined >= 0.95, _detail(report)
    assert report.decline_rate == 1.0, _detail(report)


def test_regression_set_not_lower_than_the_previous_matcher(matcher: Matcher) -> None:
    """Phrasings the project wrote without looking at the entries: typos, Hinglish, Chinese."""
    report = evaluate(matcher, load_eval_items(REGRESSION_SET))
    assert report.combined >= REGRESSION_FLOOR, _detail(report)
    # A confident wrong answer is the costly failure.
    assert report.wrong_answers <= 0.03 * report.in_scope, _detail(report)


def test_real_questions_train_half(matcher: Matcher) -> None:
    if not REAL_TRAIN.exists():
        pytest.fail("eval/real/train.yaml is missing")
    report = evaluate(matcher, load_eval_items(REAL_TRAIN))
    wrong = sum(
        1 for f in report.failures if f.result.entry is not None and not f.item.expect_no_match
    )
    assert report.accuracy >= REAL_TRAIN_FLOOR, _detail(report)
    assert wrong <= 0.05 * report.in_scope, _detail(report)
    assert report.decline_rate >= 0.93, _detail(report)
