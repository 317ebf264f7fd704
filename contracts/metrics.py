"""Outcome metrics of risk scores, defined once: training's offline test figures and the stream's realized ones.

The stream checks its live scores against what happened next (``streaming.monitoring``) with the same formulas the
model card reports at training time, so "realized AUROC 0.70 against offline 0.71" compares like with like.
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

#: Bins of the reliability diagram and of the expected calibration error (equal-count bins of the predictions).
CALIBRATION_BINS = 10


def top_decile_lift(y: np.ndarray, p: np.ndarray) -> float:
    """Churn rate among the 10% highest risks over the overall churn rate (0 when nobody churned)."""
    y = np.asarray(y, dtype="float64")
    base = y.mean() if len(y) else 0.0
    if base == 0:
        return 0.0
    k = max(1, int(np.ceil(len(p) * 0.1)))
    top = np.argsort(-np.asarray(p, dtype="float64"), kind="stable")[:k]
    return float(y[top].mean() / base)


def _bins(p: np.ndarray, bins: int) -> list[np.ndarray]:
    order = np.argsort(np.asarray(p, dtype="float64"), kind="stable")
    return [part for part in np.array_split(order, bins) if len(part)]


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """ECE over ``bins`` equal-count bins of the predictions: sum_b (n_b / n) |mean(y_b) - mean(p_b)|."""
    y = np.asarray(y, dtype="float64")
    p = np.asarray(p, dtype="float64")
    if len(y) == 0:
        return float("nan")
    total = sum(len(part) * abs(y[part].mean() - p[part].mean()) for part in _bins(p, bins))
    return float(total / len(y))


def calibration_bins(y: np.ndarray, p: np.ndarray, bins: int = CALIBRATION_BINS) -> list[list[float]]:
    """The reliability diagram's points: ``[mean_predicted, observed_rate, count]`` per equal-count bin."""
    y = np.asarray(y, dtype="float64")
    p = np.asarray(p, dtype="float64")
    return [[float(p[part].mean()), float(y[part].mean()), int(len(part))] for part in _bins(p, bins)]


def outcome_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict:
    """What a set of scored users with known outcomes says about the scores.

    Keys: ``users``, ``positives``, ``auroc`` and ``average_precision`` (NaN unless both outcomes occur),
    ``brier``, ``top_decile_lift``, ``precision`` and ``recall`` at ``threshold``, ``expected_calibration_error``
    and ``calibration`` (see :func:`calibration_bins`).
    """
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype="float64")
    both = len(np.unique(y)) == 2
    flagged = p >= threshold
    tp = int((flagged & (y == 1)).sum())
    return {
        "users": int(len(y)),
        "positives": int(y.sum()),
        "auroc": float(roc_auc_score(y, p)) if both else float("nan"),
        "average_precision": float(average_precision_score(y, p)) if both else float("nan"),
        "brier": float(brier_score_loss(y, p)) if len(y) else float("nan"),
        "top_decile_lift": top_decile_lift(y, p),
        "precision": tp / int(flagged.sum()) if flagged.any() else 0.0,
        "recall": tp / int(y.sum()) if y.any() else 0.0,
        "expected_calibration_error": expected_calibration_error(y, p),
        "calibration": calibration_bins(y, p),
    }
