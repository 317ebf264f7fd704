"""Calibrators fitted on out-of-fold margins, chosen by out-of-fold log loss, and calibration error.

The risk written to Redis is read as a probability ("12% chance of cancelling in 14 days"), so it goes
through a monotone map fitted on predictions the model did not train on (out-of-fold margins). Isotonic
regression and a sigmoid (Platt) are both tried; the one with the lower *cross-fitted* log loss wins: the
calibrator of each fold is fitted on the other folds' out-of-fold margins, so its score is out of sample too.
"""
from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from contracts.artifact import Calibrator

METHODS = ("isotonic", "sigmoid")
#: Isotonic steps are kept inside [EPS, 1 - EPS]: a probability of exactly 0 or 1 is never a calibrated one.
EPS = 1e-4


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean negative log-likelihood (natural log), probabilities clipped to [1e-12, 1 - 1e-12]."""
    p = np.clip(np.asarray(p, dtype="float64"), 1e-12, 1 - 1e-12)
    y = np.asarray(y, dtype="float64")
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def fit_calibrator(margin: np.ndarray, y: np.ndarray, method: str) -> Calibrator:
    margin = np.asarray(margin, dtype="float64")
    y = np.asarray(y, dtype="float64")
    if method == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=EPS, y_max=1 - EPS, increasing=True).fit(margin, y)
        return Calibrator("isotonic", x=iso.X_thresholds_, y=iso.y_thresholds_)
    lr = LogisticRegression(C=1e6, max_iter=1000).fit(margin.reshape(-1, 1), y.astype(int))
    a, b = float(lr.coef_.ravel()[0]), float(lr.intercept_[0])
    if a < 0:  # a margin ordering risks backwards: keep the map monotone, give every row the base rate
        rate = float(np.clip(y.mean(), EPS, 1 - EPS))
        a, b = 0.0, float(np.log(rate / (1 - rate)))
    return Calibrator("sigmoid", a=a, b=b)


def cross_fitted(margin: np.ndarray, y: np.ndarray, fold: np.ndarray, method: str) -> np.ndarray:
    """Calibrated probabilities where each fold's rows go through a calibrator fitted on the other folds."""
    out = np.zeros(len(y))
    for k in np.unique(fold):
        held = fold == k
        out[held] = fit_calibrator(margin[~held], y[~held], method)(margin[held])
    return out


def choose_calibrator(margin: np.ndarray, y: np.ndarray, fold: np.ndarray) -> tuple[Calibrator, np.ndarray, dict]:
    """(calibrator fitted on all OOF margins, its cross-fitted OOF probabilities, log loss per method)."""
    scores, oof = {}, {}
    for method in METHODS:
        oof[method] = cross_fitted(margin, y, fold, method)
        scores[method] = log_loss(y, oof[method])
    best = min(METHODS, key=lambda m: scores[m])
    return fit_calibrator(margin, y, best), oof[best], scores


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> dict:
    """Mean prediction and observed rate per equal-count bin (the reliability plot's points)."""
    order = np.argsort(np.asarray(p, dtype="float64"), kind="stable")
    parts = [part for part in np.array_split(order, bins) if len(part)]
    return {"mean_predicted": [float(np.mean(p[part])) for part in parts],
            "observed_rate": [float(np.mean(y[part])) for part in parts],
            "n": [int(len(part)) for part in parts]}
