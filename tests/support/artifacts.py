"""Test helpers that build model artifacts for the consumers' tests (streaming, dashboard, stack, contracts).

Not production code: the real artifact comes from ``python -m training``; these give a small, valid one in
a second, without a Spark pass.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from contracts.artifact import METRIC_KEYS, LinearScorer, ModelArtifact, TreeScorer, save_artifact
from contracts.drift import DriftReference
from contracts.features import FEATURE_NAMES


def quick_artifact(model_dir: str | Path, X: pd.DataFrame, y: np.ndarray, epoch_ms: int, horizon_days: float = 14.0,
                   kind: str = "tree", threshold: float | None = None, reference: bool = False) -> ModelArtifact:
    """Train a small model on a feature frame and save it as ``latest``.

    ``X`` holds :data:`FEATURE_NAMES` columns (e.g. ``model_features`` output); ``kind`` is ``tree``
    (HistGradientBoosting, 40 trees of depth 3) or ``linear`` (scaled logistic regression). Metrics are
    in-sample (this is a fixture, not an evaluation). ``reference``: also store a drift reference built from
    ``X`` and the in-sample risk.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    names = tuple(FEATURE_NAMES)
    matrix = X[list(names)].to_numpy(dtype="float64")
    y = np.asarray(y).astype(int)
    if kind == "tree":
        scorer: Any = TreeScorer(HistGradientBoostingClassifier(max_iter=40, max_depth=3, random_state=0).fit(matrix, y))
    else:
        mean, scale = matrix.mean(axis=0), matrix.std(axis=0)
        scale[scale == 0] = 1.0
        lr = LogisticRegression(max_iter=500).fit((matrix - mean) / scale, y)
        coef = lr.coef_.ravel() / scale
        scorer = LinearScorer(coef, float(lr.intercept_[0] - coef @ mean), mean)
    risk, shap_values = scorer.predict_and_explain(matrix)
    thr = float(np.quantile(risk, 0.8)) if threshold is None else float(threshold)
    metrics = {k: 0.0 for k in METRIC_KEYS}
    importance = dict(zip(names, np.abs(shap_values).mean(axis=0).tolist()))
    return save_artifact(model_dir, scorer, threshold=thr, feature_names=names, epoch_ms=epoch_ms,
                         horizon_days=horizon_days, metrics=metrics, global_importance=importance,
                         metadata={"note": "quick_artifact test fixture", "shap_expected_value": scorer.expected_value},
                         fingerprint="quick",
                         reference=DriftReference.build(X[list(names)], risk) if reference else None)
