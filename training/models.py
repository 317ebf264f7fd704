"""Candidate models on shared user-grouped folds, each ending as an executor-scorable, calibrated scorer.

Every candidate is fitted on the same folds (:func:`user_folds`: each training user's snapshots in one
fold) and yields out-of-fold *margins* (log-odds) for every training row. A calibrator is chosen and
cross-fitted on those margins (:mod:`training.calibration`), and candidates are compared by the log loss of
the calibrated out-of-fold probabilities: a strictly proper scoring rule, so the winner is the model whose
probabilities are best as probabilities, which is what the risk in Redis claims to be. Average precision
ranks without judging the probabilities, and F1 at a 5% base rate is a thresholded, noisy figure.

Scorers (pure numpy / scikit-learn at scoring time, see :mod:`contracts.artifact`): scikit-learn and MLlib
logistic regression become a ``LinearScorer`` (exact linear SHAP); HistGradientBoosting and MLlib GBT
(exported trees, :mod:`training.spark_trees`) a ``TreeScorer`` (exact tree SHAP).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from contracts.artifact import CalibratedScorer, Calibrator, LinearScorer, TreeScorer
from training import calibration
from training.evaluation import choose_threshold, metrics


@dataclass
class Candidate:
    """A fitted candidate: its scorer refitted on all training rows and its out-of-fold evidence."""
    name: str
    base: Any  # LinearScorer or TreeScorer, refitted on every training row
    params: dict
    oof_margin: np.ndarray = field(repr=False)
    calibrator: Calibrator | None = None
    oof_risk: np.ndarray | None = field(default=None, repr=False)  # cross-fitted calibrated OOF probabilities
    calibration_log_loss: dict = field(default_factory=dict)
    log_loss: float = float("nan")  # of oof_risk: the selection score
    threshold: float = 0.5
    validation: dict = field(default_factory=dict)
    search: list = field(default_factory=list)  # per configuration tried: params and OOF log loss

    @property
    def scorer(self) -> CalibratedScorer:
        return CalibratedScorer(self.base, self.calibrator)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.scorer.predict(X)


def user_folds(users: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold number per row: users shuffled with ``seed`` and dealt round-robin, so no user spans two folds."""
    distinct = np.unique(users)
    order = np.random.default_rng(seed).permutation(len(distinct))
    fold_of_user = np.empty(len(distinct), dtype=int)
    fold_of_user[order] = np.arange(len(distinct)) % folds
    return fold_of_user[np.searchsorted(distinct, users)]


def finish(cand: Candidate, y: np.ndarray, fold: np.ndarray, rule: str) -> Candidate:
    """Choose and cross-fit the calibrator, score the calibrated OOF risk, set the alert threshold."""
    cand.calibrator, cand.oof_risk, cand.calibration_log_loss = calibration.choose_calibrator(cand.oof_margin, y, fold)
    cand.log_loss = calibration.log_loss(y, cand.oof_risk)
    cand.threshold = choose_threshold(y, cand.oof_risk, rule)
    cand.validation = {**metrics(y, cand.oof_risk, cand.threshold), "log_loss": cand.log_loss,
                       "calibration": cand.calibrator.describe(), "calibration_log_loss": cand.calibration_log_loss}
    return cand


def select(candidates: list[Candidate]) -> Candidate:
    """The candidate with the lowest calibrated out-of-fold log loss."""
    return min(candidates, key=lambda c: c.log_loss)


# ------------------------------------------------------------------------------------------ logistic regression

def fit_linear(X: np.ndarray, y: np.ndarray, C: float) -> LinearScorer:
    mean, scale = X.mean(axis=0), X.std(axis=0)
    scale[scale == 0] = 1.0
    lr = LogisticRegression(C=C, max_iter=2000).fit((X - mean) / scale, y)
    coef = lr.coef_.ravel() / scale
    return LinearScorer(coef, float(lr.intercept_[0] - coef @ mean), mean)


LINEAR_GRID = {"C": [0.01, 0.1, 1.0]}


def sklearn_logistic_regression(X: np.ndarray, y: np.ndarray, fold: np.ndarray) -> Candidate:
    """Each C on the shared folds (OOF margins); the C with the lower raw OOF log loss, refitted on all."""
    best, search = None, []
    for C in LINEAR_GRID["C"]:
        oof = np.zeros(len(y))
        for k in np.unique(fold):
            held = fold == k
            oof[held] = fit_linear(X[~held], y[~held], C).margin(X[held])
        loss = calibration.log_loss(y, _sigmoid(oof))
        search.append({"params": {"C": C}, "oof_log_loss": loss})
        if best is None or loss < best[0]:
            best = (loss, C, oof)
    _, C, oof = best
    return Candidate("sklearn_logistic_regression", fit_linear(X, y, C), {"C": C}, oof, search=search)


# ------------------------------------------------------------------------------------------ HistGradientBoosting

#: The search space (every combination); the number of trees is found per combination by early stopping on the
#: shared folds, up to HGB_MAX_ITER.
HGB_GRID: dict[str, list] = {"learning_rate": [0.05, 0.1], "max_leaf_nodes": [7, 31], "min_samples_leaf": [20, 200],
                             "l2_regularization": [1.0]}
HGB_MAX_ITER = 300
#: Trees added between two looks at the held-out loss, and how many trees past the best one end a fold.
HGB_STEP, HGB_PATIENCE = 25, 50


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))


def _fold_curve(X_tr, y_tr, X_va, y_va, params: dict) -> tuple[HistGradientBoostingClassifier, np.ndarray]:
    """A fold's model grown HGB_STEP trees at a time until the held-out log loss has not improved for
    HGB_PATIENCE trees (or HGB_MAX_ITER); returns it and the summed held-out log loss after each tree."""
    model = HistGradientBoostingClassifier(random_state=0, early_stopping=False, warm_start=True,
                                           max_iter=HGB_STEP, **params)
    n = 0
    while True:
        n = min(n + HGB_STEP, HGB_MAX_ITER)
        model.set_params(max_iter=n).fit(X_tr, y_tr)
        curve = np.array([calibration.log_loss(y_va, _sigmoid(m)) * len(y_va)
                          for m in model.staged_decision_function(X_va)])
        if n >= HGB_MAX_ITER or n - 1 - int(np.argmin(curve)) >= HGB_PATIENCE:
            return model, curve


def _staged_margin(model: HistGradientBoostingClassifier, X: np.ndarray, n_trees: int) -> np.ndarray:
    for i, m in enumerate(model.staged_decision_function(X), start=1):
        if i == n_trees:
            return np.asarray(m, dtype="float64").ravel()
    return np.asarray(model.decision_function(X), dtype="float64").ravel()


def fit_hgb(X: np.ndarray, y: np.ndarray, **params: Any) -> TreeScorer:
    model = HistGradientBoostingClassifier(random_state=0, early_stopping=False, **params)
    return TreeScorer(model.fit(X, y))


def sklearn_hist_gradient_boosting(X: np.ndarray, y: np.ndarray, fold: np.ndarray,
                                   grid: dict[str, list] | None = None) -> Candidate:
    """Every combination of ``grid`` on the shared folds, its number of trees chosen by the summed held-out
    log loss over the folds (early stopping that never splits a user); the best combination refitted."""
    grid = grid or HGB_GRID
    best, search = None, []
    folds = np.unique(fold)
    for values in itertools.product(*grid.values()):
        params = dict(zip(grid.keys(), values))
        fitted = [_fold_curve(X[fold != k], y[fold != k], X[fold == k], y[fold == k], params) for k in folds]
        length = min(len(curve) for _, curve in fitted)
        total = np.sum([curve[:length] for _, curve in fitted], axis=0)
        n_trees = int(np.argmin(total)) + 1
        loss = float(total[n_trees - 1] / len(y))
        search.append({"params": {**params, "max_iter": n_trees}, "oof_log_loss": loss})
        if best is None or loss < best[0]:
            oof = np.zeros(len(y))
            for k, (model, _) in zip(folds, fitted):
                oof[fold == k] = _staged_margin(model, X[fold == k], n_trees)
            best = (loss, {**params, "max_iter": n_trees}, oof)
    _, params, oof = best
    return Candidate("sklearn_hist_gradient_boosting", fit_hgb(X, y, **params), params, oof, search=search)


SKLEARN: dict[str, Callable[..., Candidate]] = {
    "sklearn_logistic_regression": sklearn_logistic_regression,
    "sklearn_hist_gradient_boosting": sklearn_hist_gradient_boosting,
}


def refit(cand: Candidate, X: np.ndarray, y: np.ndarray) -> Any:
    """The candidate's base scorer refitted with its chosen parameters on other rows (the time backtest)."""
    if cand.name == "sklearn_logistic_regression":
        return fit_linear(X, y, **cand.params)
    if cand.name == "sklearn_hist_gradient_boosting":
        return fit_hgb(X, y, **cand.params)
    return None
