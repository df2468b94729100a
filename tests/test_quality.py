"""Answer quality must not regress: the dev set, the regression set and the real questions' train
half. The locked test half is scored by `make bench` (bench/RESULTS.md), never here: a floor on
it would invite tuning on it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from knowledge.calibration import REGRESSION_FLOOR, keep_regression_floor
from knowledge.evaluation import EvalReport, evaluate, load_eval_items
from knowledge.matcher import Matcher

EVAL = Path(__file__).resolve().parents[1] / "eval"
DEV_SET = EVAL / "dev.yaml"
REGRESSION_SET = EVAL / "regression.yaml"
REAL_TRAIN = EVAL / "real" / "train.yaml"
REAL_VALIDATION = EVAL / "real" / "validation.yaml"
# The real sets as measured on 2026-12-05 (decision model of 2026-12-04, answers' opening
# sentences indexed; the train half grown to 347 questions and the validation set to 513, from new
# sites): a floor against regressions, not the goal (issue 9 asks 85% on the test half). Train:
# 50% right (110/222); validation: 38% right (128/334), 98% of off-topic questions declined. The
# train half is in-sample for the alternates and the glossary, the validation set for the
# thresholds (knowledge/calibration.py).
REAL_TRAIN_FLOOR = 0.48
REAL_VALIDATION_FLOOR = 0.37


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


@pytest.mark.parametrize(
    ("path", "floor", "wrong_share", "declined"),
    [
        (REAL_TRAIN, REAL_TRAIN_FLOOR, 0.05, 0.93),
        # Sites nothing was written from: few answered, and those rarely wrong.
        (REAL_VALIDATION, REAL_VALIDATION_FLOOR, 0.03, 0.95),
    ],
    ids=["train", "validation"],
)
def test_real_questions(
    matcher: Matcher, path: Path, floor: float, wrong_share: float, declined: float
) -> None:
    if not path.exists():
        pytest.fail(f"{path} is missing")
    report = evaluate(matcher, load_eval_items(path))
    assert report.accuracy >= floor, _detail(report)
    wrong = sum(1 for f in report.failures if f.result.entry and not f.item.expect_no_match)
    assert wrong <= wrong_share * report.in_scope, _detail(report)
    assert report.decline_rate >= declined, _detail(report)


def test_calibration_lowers_a_threshold_that_would_break_the_regression_floor(
    matcher: Matcher,
) -> None:
    shipped = matcher.model
    own = Matcher(matcher.base, model=shipped)  # the shared index stays read-only
    regression = load_eval_items(REGRESSION_SET)
    # The lowest answer threshold above the shipped one at which our own phrasings score below
    # the floor (each step is a whole evaluation, so start close).
    strict = shipped
    while evaluate(own, regression).combined >= REGRESSION_FLOOR:
        answer = round(strict.thresholds.answer + 0.01, 2)
        assert answer < 1.0, "no answer threshold breaks the regression floor"
        strict = replace(shipped, thresholds=replace(shipped.thresholds, answer=answer))
        own.model = strict
    own.model = shipped
    kept = keep_regression_floor(own, strict)
    assert own.model is shipped  # put back
    assert shipped.thresholds.clarify <= kept.thresholds.answer < strict.thresholds.answer
    own.model = kept
    assert evaluate(own, regression).combined >= REGRESSION_FLOOR
