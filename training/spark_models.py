"""MLlib logistic regression and GBT on the shared user-grouped folds, ending as executor-scorable scorers.

The training matrix reaches Spark as a Parquet file written once from the driver's arrays and read by the
executors where it lies, with the row number and fold as columns: building a DataFrame from local rows
would instead ship the data inside every task (Spark's "task of very large size" warnings).
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from contracts.artifact import LinearScorer, TreeScorer
from training.models import Candidate
from training.spark_trees import gbt_to_shap_dict

#: One configuration each (MLlib fits cost a Spark job per tree level; the HistGradientBoosting search is wider).
SPARK_PARAMS = {"spark_logistic_regression": {"maxIter": 100, "regParam": 0.01, "elasticNetParam": 0.0},
                "spark_gbt": {"maxIter": 20, "maxDepth": 4, "stepSize": 0.1, "seed": 0}}


class SparkMatrix:
    """A feature matrix (+ labels, folds) as a Parquet-backed DataFrame with a ``features`` vector column;
    owns the temporary folder, removed by :meth:`close`."""

    def __init__(self, spark, X: np.ndarray, y: np.ndarray | None = None, fold: np.ndarray | None = None):
        from pyspark.ml.feature import VectorAssembler

        self.folder = Path(tempfile.mkdtemp(prefix="spark-matrix-"))
        cols = [f"f{j}" for j in range(X.shape[1])]
        pdf = pd.DataFrame(np.asarray(X, dtype="float64"), columns=cols)
        pdf["row"] = np.arange(len(X), dtype="int64")
        pdf["label"] = 0.0 if y is None else np.asarray(y, dtype="float64")
        pdf["fold"] = -1 if fold is None else np.asarray(fold, dtype="int64")
        pdf.to_parquet(self.folder / "matrix.parquet", index=False)
        raw = spark.read.parquet(str(self.folder / "matrix.parquet"))
        self.frame = VectorAssembler(inputCols=cols, outputCol="features").transform(raw) \
            .select("row", "label", "fold", "features").cache()

    def close(self) -> None:
        self.frame.unpersist()
        shutil.rmtree(self.folder, ignore_errors=True)


def spark_margin(model, frame, gbt: bool) -> tuple[np.ndarray, np.ndarray]:
    """(row numbers, log-odds) of Spark's own predictions: rawPrediction[1] for LR, 2 x that for GBT."""
    from pyspark.ml.functions import vector_to_array

    got = model.transform(frame).select("row", vector_to_array("rawPrediction")[1].alias("m")).toPandas()
    return got["row"].to_numpy(dtype="int64"), got["m"].to_numpy(dtype="float64") * (2.0 if gbt else 1.0)


def _estimator(name: str):
    from pyspark.ml.classification import GBTClassifier, LogisticRegression

    if name == "spark_gbt":
        return GBTClassifier(**SPARK_PARAMS[name])
    return LogisticRegression(**SPARK_PARAMS[name])


def spark_candidates(spark, X: np.ndarray, y: np.ndarray, fold: np.ndarray, names: list[str]) -> list[Candidate]:
    """Each named MLlib model fitted once per fold (OOF margins from Spark's own predictions), then on all."""
    from pyspark.sql import functions as F

    matrix = SparkMatrix(spark, X, y, fold)
    out = []
    try:
        for name in names:
            gbt = name == "spark_gbt"
            oof = np.zeros(len(y))
            for k in np.unique(fold):
                model = _estimator(name).fit(matrix.frame.where(F.col("fold") != int(k)))
                rows, margin = spark_margin(model, matrix.frame.where(F.col("fold") == int(k)), gbt)
                oof[rows] = margin
            model = _estimator(name).fit(matrix.frame)
            if gbt:
                base = TreeScorer(gbt_to_shap_dict(model, X.shape[1]))
            else:
                base = LinearScorer(model.coefficients.toArray(), float(model.intercept), X.mean(axis=0))
            out.append(Candidate(name, base, dict(SPARK_PARAMS[name]), oof))
    finally:
        matrix.close()
    return out
