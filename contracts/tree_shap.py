"""Exact path-dependent tree SHAP for small trees, from one lookup table per tree.

For ``feature_perturbation="tree_path_dependent"``, a tree's SHAP values for a row depend on the row only through
which way it goes at each of the tree's split nodes. A tree with ``K`` split nodes therefore has at most ``2**K``
distinct SHAP vectors, one per pattern of left/right decisions, and a boosted model of small trees (7 leaves, 6
splits: 64 patterns) can have every one of them computed once, when the model is loaded. Explaining a row is then a
comparison per split node and one table read per tree, all vectorised, instead of shap's per-row tree walk.

Each pattern's values are the exact Shapley values of the tree's path-dependent value function (Lundberg et al.,
"Consistent individualized feature attribution for tree ensembles", Algorithm 1): ``v(S)`` follows the row's
decision at a node whose feature is in ``S`` and averages both children by their training cover otherwise. A tree
uses only a few features, and the others are null players, so the Shapley sum runs over the tree's own features.
The tests check the tables against ``shap.TreeExplainer`` row by row.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from math import factorial
from typing import Any

import numpy as np

#: Trees with more split nodes than this keep shap's explainer (a table holds 2**splits patterns per tree).
MAX_SPLITS = 10
_ROWS_PER_CHUNK = 2048


@dataclass(frozen=True)
class Tree:
    """One tree as arrays indexed by node (``left`` < 0 marks a leaf): a row goes left at a split node when its
    feature is ``<= threshold``, or when it is missing and ``default_left``."""
    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    default_left: np.ndarray
    value: np.ndarray
    cover: np.ndarray

    @property
    def splits(self) -> np.ndarray:
        return np.flatnonzero(self.left >= 0)


def trees_of(model: Any) -> list[Tree] | None:
    """The trees of a scikit-learn ``HistGradientBoostingClassifier`` (binary) or of a model in shap's dict form
    (``training.spark_trees``); ``None`` for anything else, or for a categorical split."""
    if isinstance(model, dict):
        return [Tree(np.asarray(t["children_left"]), np.asarray(t["children_right"]), np.asarray(t["features"]),
                     np.asarray(t["thresholds"], dtype="float64"),
                     np.asarray(t["children_default"]) == np.asarray(t["children_left"]),
                     np.asarray(t["values"], dtype="float64").reshape(len(t["children_left"]), -1)[:, -1],
                     np.asarray(t["node_sample_weight"], dtype="float64"))
                for t in model["trees"]]
    predictors = getattr(model, "_predictors", None)
    if predictors is None or any(len(p) != 1 for p in predictors):
        return None
    trees = []
    for (predictor,) in predictors:
        n = predictor.nodes
        if n["is_categorical"].any():
            return None
        leaf = n["is_leaf"].astype(bool)
        trees.append(Tree(np.where(leaf, -1, n["left"].astype(np.int64)), np.where(leaf, -1, n["right"].astype(np.int64)),
                          n["feature_idx"].astype(np.int64), n["num_threshold"].astype("float64"),
                          n["missing_go_to_left"].astype(bool), n["value"].astype("float64"),
                          n["count"].astype("float64")))
    return trees


def _pattern_values(tree: Tree, splits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The tree's features and a (patterns, features) table of their SHAP values, one row per decision pattern
    (bit ``k`` of the pattern set: the row goes left at ``splits[k]``)."""
    features = np.unique(tree.feature[splits])
    patterns = np.arange(1 << len(splits))
    goes_left = {int(node): (patterns >> k) & 1 == 1 for k, node in enumerate(splits)}

    def expected(node: int, known: frozenset[int]) -> np.ndarray | float:
        if tree.left[node] < 0:
            return float(tree.value[node])
        a, b = int(tree.left[node]), int(tree.right[node])
        if int(tree.feature[node]) in known:
            return np.where(goes_left[node], expected(a, known), expected(b, known))
        return (tree.cover[a] * expected(a, known) + tree.cover[b] * expected(b, known)) / tree.cover[node]

    m = len(features)
    v = {frozenset(s): np.broadcast_to(expected(0, frozenset(s)), patterns.shape)
         for size in range(m + 1) for s in combinations(features.tolist(), size)}
    weight = [factorial(size) * factorial(m - size - 1) / factorial(m) for size in range(m)]
    table = np.zeros((len(patterns), m))
    for j, f in enumerate(features.tolist()):
        others = [g for g in features.tolist() if g != f]
        for size in range(m):
            for s in combinations(others, size):
                table[:, j] += weight[size] * (v[frozenset(s) | {f}] - v[frozenset(s)])
    return features, table


class TableExplainer:
    """SHAP values of a sum of small trees, from each tree's table of decision patterns (see the module doc)."""

    def __init__(self, trees: list[Tree]):
        n_features = 1 + max((int(t.feature[t.splits].max(initial=-1)) for t in trees), default=-1)
        width = max((len(t.splits) for t in trees), default=0)
        depth = max((len(np.unique(t.feature[t.splits])) for t in trees), default=0)
        n = len(trees)
        self._feature = np.zeros((n, width), dtype=np.int64)  # each tree's split nodes, padded to ``width``
        self._threshold = np.full((n, width), np.inf)  # a padding node always goes left; its bit is ignored
        self._default_left = np.ones((n, width), dtype=bool)
        self._table = np.zeros((n, 1 << width, depth))  # tree, pattern, the tree's j-th feature
        self._onehot = np.zeros((n, depth, n_features))  # the tree's j-th feature -> the model's feature
        for i, tree in enumerate(trees):
            splits = tree.splits
            k = len(splits)
            self._feature[i, :k] = tree.feature[splits]
            self._threshold[i, :k] = tree.threshold[splits]
            self._default_left[i, :k] = tree.default_left[splits]
            features, table = _pattern_values(tree, splits)
            rows = np.arange(1 << width) & ((1 << k) - 1)  # the bits of padding nodes do not matter
            self._table[i, :, :len(features)] = table[rows]
            self._onehot[i, np.arange(len(features)), features] = 1.0
        self._onehot = self._onehot.reshape(n * depth, n_features)
        self._bits = 1 << np.arange(width, dtype=np.int64)

    @classmethod
    def for_model(cls, model: Any) -> "TableExplainer | None":
        """An explainer for ``model``, or ``None`` when its trees cannot be read or are too large for tables."""
        trees = trees_of(model)
        if not trees or any(len(t.splits) > MAX_SPLITS for t in trees):
            return None
        return cls(trees)

    def shap_values(self, X: np.ndarray) -> np.ndarray:
        """A matrix of SHAP values in the model's margin (log-odds), shaped like ``X`` (a feature no split uses
        has zeros)."""
        X = np.asarray(X, dtype="float64")
        out = np.zeros(X.shape)
        used = self._onehot.shape[1]
        n_trees = len(self._table)
        base = np.arange(n_trees) * self._table.shape[1]
        flat_table = self._table.reshape(-1, self._table.shape[2])
        for start in range(0, len(X), _ROWS_PER_CHUNK):
            x = X[start:start + _ROWS_PER_CHUNK]
            pattern = np.zeros((len(x), n_trees), dtype=np.int64)  # rows, trees: the row's decision at each split
            for k, bit in enumerate(self._bits.tolist()):
                column = x[:, self._feature[:, k]]
                left = (column <= self._threshold[:, k]) | (np.isnan(column) & self._default_left[:, k])
                pattern += left * bit
            values = flat_table[pattern + base]  # rows, trees, the tree's features
            out[start:start + len(x), :used] = values.reshape(len(x), -1) @ self._onehot
        return out
