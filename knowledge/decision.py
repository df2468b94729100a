"""The decide stage: a small logistic model turns each candidate's features into the probability
that it answers the question, and calibrated thresholds turn probabilities into an outcome.

The model and its thresholds are data (knowledge/decision.yaml), fitted on the train half of the
real questions plus the project's own sets by `visabot kb calibrate` (knowledge/calibration.py);
nothing here is tuned by hand. Reading the file tells a maintainer what the matcher values: a
large weight on topic_agreement means naming the wrong visa sinks a candidate, and so on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from knowledge.entry_file import safe_load
from knowledge.features import FEATURES

DECISION_FILENAME = "decision.yaml"


@dataclass(frozen=True)
class Thresholds:
    """Probabilities at which the matcher acts."""

    answer: float  # the best candidate is sent as the answer
    clarify: float  # below answer: "did you mean" with the leading candidates
    offer: (
        float  # a runner-up is offered ("did you mean" under an answer, choices, nearest entries)
    )


@dataclass(frozen=True)
class DecisionModel:
    weights: tuple[float, ...]  # one per FEATURES name, in that order
    bias: float
    thresholds: Thresholds
    trained_on: str = ""  # what the fit saw, for the record

    @classmethod
    def untrained(cls) -> DecisionModel:
        """Every probability 0.5: what calibration starts from (features do not depend on it)."""
        return cls(weights=(0.0,) * len(FEATURES), bias=0.0, thresholds=Thresholds(0.9, 0.7, 0.5))

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        """P(candidate answers the question) for each row of features."""
        z = rows @ np.asarray(self.weights) + self.bias
        probabilities: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
        return probabilities

    @classmethod
    def load(cls, path: Path) -> DecisionModel:
        data = safe_load(path.read_text(encoding="utf-8"))
        try:
            weights = data["weights"]
            missing = [f for f in FEATURES if f not in weights]
            extra = [f for f in weights if f not in FEATURES]
            if missing or extra:
                raise ValueError(
                    f"weights do not match the features (missing {missing}, unknown {extra})"
                )
            t = data["thresholds"]
            thresholds = Thresholds(float(t["answer"]), float(t["clarify"]), float(t["offer"]))
            if not 0 < thresholds.offer <= thresholds.clarify <= thresholds.answer < 1:
                raise ValueError("thresholds must satisfy 0 < offer <= clarify <= answer < 1")
            return cls(
                weights=tuple(float(weights[f]) for f in FEATURES),
                bias=float(data["bias"]),
                thresholds=thresholds,
                trained_on=str(data.get("trained_on", "")),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a decision model ({exc})") from exc

    def dump(self, path: Path, header: str) -> None:
        data = {
            "trained_on": self.trained_on,
            "bias": round(self.bias, 4),
            "weights": {f: round(w, 4) for f, w in zip(FEATURES, self.weights)},
            "thresholds": {
                "answer": round(self.thresholds.answer, 3),
                "clarify": round(self.thresholds.clarify, 3),
                "offer": round(self.thresholds.offer, 3),
            },
        }
        text = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
        path.write_text(
            text + yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8"
        )


def fit_logistic(
    rows: np.ndarray, labels: np.ndarray, sample_weight: np.ndarray, l2: float = 1.0
) -> tuple[np.ndarray, float]:
    """Weights and bias of an L2-regularised logistic regression (Newton's method; the bias is
    not penalised). Small and dependency-free: a dozen features, a few thousand rows."""
    x = np.hstack([rows, np.ones((len(rows), 1))])
    beta = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ beta, -30, 30)))
        gradient = x.T @ (sample_weight * (p - labels)) + penalty * beta
        hessian = (x * (sample_weight * p * (1 - p))[:, None]).T @ x + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta[:-1], float(beta[-1])
