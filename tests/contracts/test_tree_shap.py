"""Lookup-table tree SHAP: the same values as shap's TreeExplainer (path dependent), row by row, for the model kinds
the project trains, with missing values, rows on split thresholds and repeated features on a path."""
from __future__ import annotations

import numpy as np
import pytest
import shap
from sklearn.ensemble import HistGradientBoostingClassifier

from contracts.artifact import TreeScorer
from contracts.tree_shap import MAX_SPLITS, TableExplainer


def _reference(model, X: np.ndarray) -> np.ndarray:
    values = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent").shap_values(
        X, check_additivity=False)
    values = np.asarray(values[-1] if isinstance(values, list) else values, dtype="float64")
    return values[:, :, -1] if values.ndim == 3 else values


def _hist_gb(max_leaf_nodes: int, n_features: int = 8, seed: int = 0) -> tuple[HistGradientBoostingClassifier, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.gamma(2.0, 1.0, (3000, n_features))
    X[rng.random(X.shape) < 0.05] = np.nan  # learned missing-value directions
    logit = 1.5 * (np.nan_to_num(X[:, 0]) - 2) - np.nan_to_num(X[:, 1]) + 0.5 * np.isnan(X[:, 2])
    y = (rng.random(len(X)) < 1 / (1 + np.exp(-logit))).astype(int)
    model = HistGradientBoostingClassifier(max_iter=40, max_leaf_nodes=max_leaf_nodes, min_samples_leaf=20,
                                           random_state=0).fit(X, y)
    return model, X


def _rows_on_thresholds(explainer: TableExplainer, X: np.ndarray) -> np.ndarray:
    """Rows whose values sit exactly on split thresholds (``<=`` goes left), some missing."""
    rows = X[:200].copy()
    finite = np.isfinite(explainer._threshold)
    for i in range(len(rows)):
        t, k = divmod(i, explainer._threshold.shape[1])
        t %= len(explainer._threshold)
        if finite[t, k]:
            rows[i, explainer._feature[t, k]] = explainer._threshold[t, k]
    return rows


def test_a_boosted_model_of_small_trees_gets_shaps_values_to_1e9():
    model, X = _hist_gb(max_leaf_nodes=7)
    tables = TableExplainer.for_model(model)
    assert tables is not None
    rows = np.vstack([X[:1500], _rows_on_thresholds(tables, X)])
    assert np.isnan(rows).any()
    np.testing.assert_allclose(tables.shap_values(rows), _reference(model, rows), rtol=0, atol=1e-9)


def test_the_tree_scorer_explains_with_tables_and_its_values_add_up_to_the_margin():
    model, X = _hist_gb(max_leaf_nodes=7)
    scorer = TreeScorer(model)
    risk, values = scorer.predict_and_explain(X[:500])
    assert scorer.tables is not None
    np.testing.assert_allclose(values.sum(axis=1) + scorer.expected_value, scorer.margin(X[:500]), atol=1e-9)
    np.testing.assert_allclose(risk, model.predict_proba(X[:500])[:, 1])


def test_trees_too_large_for_tables_keep_shaps_explainer():
    model, X = _hist_gb(max_leaf_nodes=MAX_SPLITS + 2)
    assert TableExplainer.for_model(model) is None
    scorer = TreeScorer(model)
    np.testing.assert_allclose(scorer.predict_and_explain(X[:50])[1], _reference(model, X[:50]), atol=1e-12)


def _dict_tree(features: list[int], thresholds: list[float], values: list[float], covers: list[float]) -> dict:
    """A depth-2 tree in shap's dict form: node 0 splits to 1 and 2, which split to leaves 3-4 and 5-6."""
    left = np.array([1, 3, 5, -1, -1, -1, -1])
    right = np.array([2, 4, 6, -1, -1, -1, -1])
    return {"children_left": left, "children_right": right, "children_default": left.copy(),
            "features": np.array(features + [-2] * 4), "thresholds": np.array(thresholds + [-2.0] * 4),
            "values": np.array([0.0] * 3 + values).reshape(-1, 1), "node_sample_weight": np.array(covers, dtype=float)}


def test_trees_in_shaps_dict_form_with_a_feature_repeated_on_a_path():
    model = {"trees": [_dict_tree([0, 0, 1], [0.5, 0.2, 1.0], [1.0, -2.0, 0.5, 3.0], [100, 60, 40, 20, 40, 10, 30]),
                       _dict_tree([2, 1, 0], [0.0, 0.3, 0.7], [-1.0, 0.25, 2.0, -0.5], [50, 30, 20, 5, 25, 15, 5])],
             "base_offset": 0.0, "tree_output": "log_odds", "objective": "binary_crossentropy",
             "input_dtype": np.float64, "internal_dtype": np.float64}
    rng = np.random.default_rng(1)
    X = rng.uniform(-0.5, 1.5, (400, 4))
    X[::7, 0] = 0.5  # on a threshold
    X[::11, 1] = np.nan
    tables = TableExplainer.for_model(model)
    values = tables.shap_values(X)
    assert values.shape == X.shape and not values[:, 3].any()  # feature 3 is in no split
    np.testing.assert_allclose(values, _reference(model, X), rtol=0, atol=1e-9)


@pytest.mark.parametrize("rows", [0, 1, 5000])
def test_any_number_of_rows(rows):
    model, X = _hist_gb(max_leaf_nodes=4)
    X = np.resize(X, (rows, X.shape[1]))
    values = TableExplainer.for_model(model).shap_values(X)
    assert values.shape == (rows, X.shape[1])
    if rows:
        np.testing.assert_allclose(values, _reference(model, X), atol=1e-9)
