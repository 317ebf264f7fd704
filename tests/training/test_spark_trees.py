"""MLlib GBT exported to a tree scorer: Spark's own probabilities to 1e-9, SHAP values adding up to the margin."""
from __future__ import annotations

import numpy as np
import pytest

from contracts.artifact import TreeScorer

pytestmark = pytest.mark.integration


def test_exported_gbt_scores_like_spark_and_shap_adds_up(spark):
    from pyspark.ml.classification import GBTClassifier

    from training.spark_models import SparkMatrix, spark_margin
    from training.spark_trees import gbt_to_shap_dict

    rng = np.random.default_rng(3)
    X = rng.normal(size=(600, 5))
    X[:, 3] = np.round(X[:, 3])  # ties at split thresholds: x == threshold must go left, as in Spark
    y = (X[:, 0] - 0.7 * X[:, 1] + 0.5 * X[:, 3] + rng.normal(size=600) > 0).astype(float)
    train = SparkMatrix(spark, X, y)
    probe_X = np.vstack([X[:200], rng.normal(size=(200, 5)) * 2])
    probe = SparkMatrix(spark, probe_X)
    try:
        model = GBTClassifier(maxIter=15, maxDepth=4, stepSize=0.2, seed=1).fit(train.frame)
        from pyspark.ml.functions import vector_to_array

        got = model.transform(probe.frame).select("row", vector_to_array("probability")[1].alias("p")).toPandas()
        spark_p = got.sort_values("row")["p"].to_numpy()
        rows, spark_logit = spark_margin(model, probe.frame, gbt=True)
        spark_logit = spark_logit[np.argsort(rows)]
    finally:
        train.close()
        probe.close()
    scorer = TreeScorer(gbt_to_shap_dict(model, X.shape[1]))
    risk, shap_values = scorer.predict_and_explain(probe_X)
    np.testing.assert_allclose(risk, spark_p, rtol=0, atol=1e-9)
    np.testing.assert_allclose(scorer.margin(probe_X), spark_logit, rtol=0, atol=1e-9)
    # exact tree SHAP: expected value + contributions = the margin (log-odds) of every row
    np.testing.assert_allclose(scorer.expected_value + shap_values.sum(axis=1), spark_logit, rtol=0, atol=1e-9)
    assert np.abs(shap_values[:, 0]).mean() > np.abs(shap_values[:, 4]).mean()  # the signal, not the noise column
