"""MLlib GBT classifier -> a tree ensemble in shap's dictionary form: scorable without Spark, exact tree SHAP.

Why export rather than keep the MLlib model: the streaming scorer runs in plain Python workers with no
SparkSession and needs SHAP per user; shap's ``TreeExplainer`` computes exact (path-dependent) tree SHAP on
a dictionary of node arrays, and predicts with the same trees.

How: the model is saved with MLlib's own writer (a Parquet table of nodes: id, prediction, split feature and
threshold, children, impurity statistics) and read back with pandas, so no node is fetched through the
Python-JVM bridge one call at a time. MLlib trains GBT classification on labels {-1, +1} and gives
``P(y = 1) = 1 / (1 + exp(-2 F))`` with ``F = sum_i w_i tree_i(x)``: the exported leaf values are
``2 w_i prediction``, so the ensemble's output is the log-odds and SHAP values add up to it. MLlib sends a
value to the left child when ``x <= threshold``, as shap does. Only continuous splits exist here (the
feature vectors carry no categorical metadata).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd


def gbt_to_shap_dict(model, n_features: int) -> dict:
    """The trees of a fitted ``pyspark.ml.classification.GBTClassificationModel`` in shap's dict format."""
    weights = list(model.treeWeights)
    with tempfile.TemporaryDirectory(prefix="gbt-export-") as tmp:
        path = str(Path(tmp) / "model")
        model.write().overwrite().save(path)
        nodes = pd.read_parquet(Path(path) / "data")
    trees = []
    for tree_id, group in nodes.groupby("treeID", sort=True):
        data = pd.DataFrame(list(group["nodeData"])).sort_values("id").reset_index(drop=True)
        position = {int(node_id): i for i, node_id in enumerate(data["id"])}
        n = len(data)
        left = np.full(n, -1, dtype=np.int32)
        right = np.full(n, -1, dtype=np.int32)
        features = np.full(n, -2, dtype=np.int32)
        thresholds = np.full(n, -2.0, dtype=np.float64)
        for i, row in data.iterrows():
            if int(row["leftChild"]) < 0:
                continue
            split = row["split"]
            if int(split["numCategories"]) != -1:
                raise ValueError("categorical splits are not supported in the GBT export")
            left[i], right[i] = position[int(row["leftChild"])], position[int(row["rightChild"])]
            features[i] = int(split["featureIndex"])
            thresholds[i] = float(np.asarray(split["leftCategoriesOrThreshold"])[0])
        counts = np.array([float(np.asarray(s)[0]) for s in data["impurityStats"]], dtype=np.float64)
        values = 2.0 * weights[int(tree_id)] * data["prediction"].to_numpy(dtype=np.float64)
        trees.append({"children_left": left, "children_right": right, "children_default": left.copy(),
                      "features": features, "thresholds": thresholds, "values": values.reshape(-1, 1),
                      "node_sample_weight": counts})
    if len(trees) != len(weights):
        raise ValueError(f"exported {len(trees)} trees of {len(weights)}")
    if any(int(t["features"].max(initial=-1)) >= n_features for t in trees):
        raise ValueError("a split uses a feature index beyond the feature list")
    return {"trees": trees, "base_offset": 0.0, "tree_output": "log_odds", "objective": "binary_crossentropy",
            "input_dtype": np.float64, "internal_dtype": np.float64}
