"""95% bootstrap intervals that resample test *users*, not snapshots.

A user contributes one snapshot per cutoff and those snapshots are alike, so resampling snapshots would
treat 13 looks at one person as 13 people and give intervals that are too narrow. Each replicate draws the
test users with replacement; a user drawn k times weighs k in every figure. The figures are computed for all
replicates at once from one sort of the scores (weighted cumulative sums), so a thousand replicates of
tens of thousands of snapshots cost seconds. Several models scored on the same replicates give paired
intervals for their differences.
"""
from __future__ import annotations

import numpy as np

from contracts.artifact import CI_KEYS


class SortedScores:
    """One model's test scores sorted once (descending), with the boundaries of tied scores."""

    def __init__(self, y: np.ndarray, p: np.ndarray, threshold: float):
        self.order = np.argsort(-np.asarray(p, dtype="float64"), kind="stable")
        self.p = np.asarray(p, dtype="float64")[self.order]
        self.y = np.asarray(y, dtype="float64")[self.order]
        self.flagged = self.p >= threshold
        # last position of each run of equal scores: thresholds lie between distinct scores
        self.ends = np.append(np.flatnonzero(np.diff(self.p) != 0), len(self.p) - 1)

    def figures(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        """Each CI_KEYS figure per row of ``weights`` ([replicates, rows], in the original row order)."""
        w = weights[:, self.order]
        tp_all = np.cumsum(w * self.y, axis=1)
        fp_all = np.cumsum(w * (1 - self.y), axis=1)
        tp, fp = tp_all[:, self.ends], fp_all[:, self.ends]
        pos, neg = tp[:, -1], fp[:, -1]
        total = pos + neg
        with np.errstate(divide="ignore", invalid="ignore"):
            tp0 = np.concatenate([np.zeros((len(w), 1)), tp[:, :-1]], axis=1)
            fp0 = np.concatenate([np.zeros((len(w), 1)), fp[:, :-1]], axis=1)
            auroc = np.sum((fp - fp0) * (tp + tp0) / 2, axis=1) / (pos * neg)
            ap = np.sum((tp - tp0) * tp / np.maximum(tp + fp, 1e-300), axis=1) / pos
            brier = (w * (self.p - self.y) ** 2).sum(axis=1) / total
            tp_t = (w * self.y * self.flagged).sum(axis=1)
            fp_t = (w * (1 - self.y) * self.flagged).sum(axis=1)
            f1 = 2 * tp_t / (2 * tp_t + fp_t + (pos - tp_t))
            # top decile by weight: rows in score order until a tenth of the total weight, the last one in part
            cum = np.cumsum(w, axis=1)
            tenth = 0.1 * total[:, None]
            share = np.clip(tenth - (cum - w), 0, w)
            lift = (share * self.y).sum(axis=1) / tenth[:, 0] / (pos / total)
        return {"auroc": auroc, "average_precision": ap, "f1": f1, "brier": brier, "top_decile_lift": lift}


def user_bootstrap(users: np.ndarray, y: np.ndarray, models: dict[str, tuple[np.ndarray, float]],
                   differences: dict[str, tuple[str, str]] | None = None, replicates: int = 1000, seed: int = 0,
                   chunk: int = 50) -> dict[str, dict[str, list[float]]]:
    """``{model: {"<key>_ci": [low, high]}}`` for each ``models`` entry (name -> (risks, threshold)), and for
    each ``differences`` entry (name -> (model a, model b)) the interval of a - b on the same replicates."""
    differences = differences or {}
    distinct, index = np.unique(np.asarray(users).astype(str), return_inverse=True)
    sorted_scores = {name: SortedScores(y, p, thr) for name, (p, thr) in models.items()}
    draws: dict[str, dict[str, list]] = {name: {k: [] for k in CI_KEYS} for name in [*models, *differences]}
    rng = np.random.default_rng(seed)
    done = 0
    while done < replicates:
        b = min(chunk, replicates - done)
        counts = np.stack([np.bincount(rng.integers(0, len(distinct), len(distinct)), minlength=len(distinct))
                           for _ in range(b)]).astype("float64")
        weights = counts[:, index]
        figures = {name: s.figures(weights) for name, s in sorted_scores.items()}
        for name, fig in figures.items():
            for k in CI_KEYS:
                draws[name][k].append(fig[k])
        for name, (a, c) in differences.items():
            for k in CI_KEYS:
                draws[name][k].append(figures[a][k] - figures[c][k])
        done += b
    out = {}
    for name, per_key in draws.items():
        out[name] = {}
        for k, parts in per_key.items():
            values = np.concatenate(parts)
            values = values[np.isfinite(values)]
            out[name][f"{k}_ci"] = [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))] \
                if len(values) else [float("nan"), float("nan")]
    return out
