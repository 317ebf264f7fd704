"""Candidate models, tuned with user-grouped cross-validation, each returned as an executor-scorable scorer.

Every candidate ends as a :mod:`contracts.artifact` scorer (pure numpy / scikit-learn at scoring time):
scikit-learn logistic regression and Spark MLlib logistic regression become a ``LinearScorer`` (exact linear
SHAP); HistGradientBoosting a ``TreeScorer``. Spark MLlib GBT is trained and evaluated with Spark's own
predictions, but it is not converted to an executor-scorable form, so it is reported and never selected.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score
from sklearn.model_selection import GroupKFold

from contracts.artifact import LinearScorer, TreeScorer
from training.evaluation import best_f1_threshold, metrics


@dataclass
class Candidate:
    name: str
    scorer: Any  # None for candidates that cannot score outside Spark
    params: dict
    threshold: float
    validation: dict  # metrics on out-of-fold (validation) predictions
    selectable: bool = True
    predict: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.predict(X) if self.predict is not None else self.scorer.predict(X)


def _fit_linear(X: np.ndarray, y: np.ndarray, C: float) -> LinearScorer:
    mean, scale = X.mean(axis=0), X.std(axis=0)
    scale[scale == 0] = 1.0
    lr = LogisticRegression(C=C, max_iter=2000).fit((X - mean) / scale, y)
    coef = lr.coef_.ravel() / scale
    return LinearScorer(coef, float(lr.intercept_[0] - coef @ mean), mean)


def _fit_hgb(X: np.ndarray, y: np.ndarray, **params: Any) -> TreeScorer:
    model = HistGradientBoostingClassifier(random_state=0, early_stopping=False, **params)
    return TreeScorer(model.fit(X, y))


GRIDS: dict[str, tuple[Callable[..., Any], dict[str, list]]] = {
    "sklearn_logistic_regression": (_fit_linear, {"C": [0.1, 1.0]}),
    "sklearn_hist_gradient_boosting": (_fit_hgb, {"max_iter": [120], "learning_rate": [0.1],
                                                  "max_depth": [3, 5], "max_leaf_nodes": [15],
                                                  "l2_regularization": [1.0]}),
}


def _oof(fit: Callable[..., Any], params: dict, X: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int) -> np.ndarray:
    out = np.zeros(len(y))
    for tr, va in GroupKFold(n_splits=folds).split(X, y, groups):
        out[va] = fit(X[tr], y[tr], **params).predict(X[va])
    return out


def tune_sklearn(name: str, X: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int = 3) -> Candidate:
    """Grid search by out-of-fold average precision (user-grouped folds), threshold for best OOF F1, refit."""
    fit, grid = GRIDS[name]
    best = None
    for values in itertools.product(*grid.values()):
        params = dict(zip(grid.keys(), values))
        oof = _oof(fit, params, X, y, groups, folds)
        ap = average_precision_score(y, oof)
        if best is None or ap > best[0]:
            best = (ap, params, oof)
    _, params, oof = best
    threshold = best_f1_threshold(y, oof)
    return Candidate(name, fit(X, y, **params), params, threshold, metrics(y, oof, threshold))


def spark_candidates(spark, X: np.ndarray, y: np.ndarray, groups: np.ndarray, names: list[str]) -> list[Candidate]:
    """MLlib logistic regression and GBT: fit on 2/3 of the users, threshold on the other third, refit on all."""
    import pandas as pd
    from pyspark.ml.classification import GBTClassifier, LogisticRegression as SparkLR
    from pyspark.ml.functions import array_to_vector, vector_to_array
    from pyspark.sql import functions as F

    def frame(idx: np.ndarray):
        pdf = pd.DataFrame({"features": list(X[idx]), "label": y[idx].astype(float)})
        return spark.createDataFrame(pdf).select(array_to_vector("features").alias("features"), "label")

    tr, va = next(GroupKFold(n_splits=3).split(X, y, groups))
    all_idx = np.arange(len(y))
    out = []
    for name, estimator in (("spark_logistic_regression", SparkLR(maxIter=100, regParam=0.01, elasticNetParam=0.0)),
                            ("spark_gbt", GBTClassifier(maxIter=20, maxDepth=4, stepSize=0.1, seed=0))):
        if name not in names:
            continue

        def spark_predict(model, Xm: np.ndarray) -> np.ndarray:
            pdf = pd.DataFrame({"features": list(Xm), "label": 0.0})
            df = spark.createDataFrame(pdf).select(array_to_vector("features").alias("features"))
            got = model.transform(df).select(vector_to_array("probability")[1].alias("p")).toPandas()
            return got["p"].to_numpy(dtype=float)

        val_model = estimator.fit(frame(tr))
        p_va = spark_predict(val_model, X[va])
        threshold = best_f1_threshold(y[va], p_va)
        model = estimator.fit(frame(all_idx))
        params = {k.name: v for k, v in estimator.extractParamMap().items()
                  if k.name in ("maxIter", "regParam", "maxDepth", "stepSize")}
        if name == "spark_logistic_regression":
            scorer = LinearScorer(model.coefficients.toArray(), float(model.intercept), X.mean(axis=0))
            out.append(Candidate(name, scorer, params, threshold, metrics(y[va], p_va, threshold)))
        else:
            out.append(Candidate(name, None, params, threshold, metrics(y[va], p_va, threshold), selectable=False,
                                 predict=lambda Xm, m=model: spark_predict(m, Xm)))
    return out
