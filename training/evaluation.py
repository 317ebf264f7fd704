"""Metrics, alert thresholds, per-segment metrics and the best-possible forecast from the simulator's truth."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, f1_score, precision_recall_curve, \
    precision_score, recall_score, roc_auc_score

from contracts.artifact import METRIC_KEYS
from contracts.metrics import expected_calibration_error, top_decile_lift
from training.calibration import log_loss
from contracts.truth import read_truth, truth_path


def best_f1_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The probability threshold that maximises F1 on (validation) data."""
    if y.sum() == 0:
        return 0.5
    precision, recall, thresholds = precision_recall_curve(y, p)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(thresholds[int(np.argmax(f1[:-1]))])


def choose_threshold(y: np.ndarray, p: np.ndarray, rule: str = "best_f1") -> float:
    """The alert threshold on (out-of-fold) risks ``p`` by ``rule``: ``best_f1``; ``precision:P``, the lowest
    threshold whose precision reaches P (the most users caught at that precision; the best-F1 one if none
    does); ``top:S``, the threshold that flags the share S of the highest risks."""
    kind, _, value = rule.partition(":")
    if kind == "best_f1" and not value:
        return best_f1_threshold(y, p)
    try:
        target = float(value)
    except ValueError:
        raise ValueError(f"bad threshold rule {rule!r}: use best_f1, precision:P or top:S") from None
    if not 0 < target < 1 or kind not in ("precision", "top"):
        raise ValueError(f"bad threshold rule {rule!r}: use best_f1, precision:P or top:S with 0 < P, S < 1")
    if kind == "top":
        return float(np.quantile(p, 1 - target))
    precision, _, thresholds = precision_recall_curve(y, p)
    ok = np.flatnonzero(precision[:-1] >= target)
    return float(thresholds[ok[0]]) if len(ok) else best_f1_threshold(y, p)


def metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    """Every figure of METRIC_KEYS, plus support counts."""
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=float)
    pred = (p >= threshold).astype(int)
    both = len(np.unique(y)) == 2
    out = {
        "f1": float(f1_score(y, pred, zero_division=0)),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "average_precision": float(average_precision_score(y, p)) if both else float("nan"),
        "auroc": float(roc_auc_score(y, p)) if both else float("nan"),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": log_loss(y, p),
        "ece": expected_calibration_error(y, p),
        "top_decile_lift": top_decile_lift(y, p),
        "threshold": float(threshold),
        "n": int(len(y)),
        "positives": int(y.sum()),
    }
    assert set(METRIC_KEYS) <= set(out)
    return out


def segment_metrics(y: np.ndarray, p: np.ndarray, threshold: float, segments: dict[str, np.ndarray]) -> dict:
    """Metrics per value of each segment attribute (e.g. gender, level): ``{attribute: {value: metrics}}``,
    so a team can check the model ranks and calibrates each segment alike."""
    out: dict[str, dict] = {}
    for attribute, values in segments.items():
        values = np.asarray(values).astype(str)
        out[attribute] = {str(v) or "unknown": metrics(y[values == v], p[values == v], threshold)
                          for v in sorted(np.unique(values))}
    return out


def truth_forecast(log_paths: list[str], users: np.ndarray, cutoffs: np.ndarray, horizon_days: float) -> np.ndarray | None:
    """P(cancel within H | active at t) = 1 - exp(-H * daily_hazard[level at t]) per row, from the truth
    file(s) beside the log; None when there is no truth file (a real log)."""
    truths = {}
    for p in log_paths:
        tp = truth_path(p)
        if not tp.exists():
            return None
        for t in read_truth(tp):
            truths[str(t.userId)] = t
    out = np.full(len(users), np.nan)
    for i, (u, c) in enumerate(zip(users, cutoffs)):
        t = truths.get(str(u))
        if t is None or not t.daily_hazard:
            continue
        level = None
        for ts, lv in sorted(t.level_history or [], key=lambda e: e[0]):
            if ts <= c or level is None:
                level = lv
            if ts > c:
                break
        hazard = t.daily_hazard.get(level or "free", next(iter(t.daily_hazard.values())))
        out[i] = 1.0 - np.exp(-horizon_days * hazard)
    return out
