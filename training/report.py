"""Plots (matplotlib, Agg) and the markdown model card of a trained model."""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from contracts.features import feature_label


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def evaluation_plots(y: np.ndarray, p: np.ndarray, threshold: float, baseline: np.ndarray | None = None,
                     best: np.ndarray | None = None) -> dict[str, Any]:
    """ROC, precision-recall, confusion matrix and calibration figures, keyed by file name."""
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import ConfusionMatrixDisplay, precision_recall_curve, roc_curve

    plt = _plt()
    figs = {}
    others = [("selected model", p), ("whole-history baseline", baseline), ("best possible (truth)", best)]
    fig, ax = plt.subplots(figsize=(5, 4))
    for label, q in others:
        if q is not None:
            fpr, tpr, _ = roc_curve(y, q)
            ax.plot(fpr, tpr, label=label)
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (forward task, test users)")
    ax.legend(loc="lower right", fontsize=8)
    figs["roc.png"] = fig
    fig, ax = plt.subplots(figsize=(5, 4))
    for label, q in others:
        if q is not None:
            prec, rec, _ = precision_recall_curve(y, q)
            ax.plot(rec, prec, label=label)
    ax.axhline(y.mean(), color="k", ls=":", lw=0.8)
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall")
    ax.legend(fontsize=8)
    figs["pr.png"] = fig
    fig, ax = plt.subplots(figsize=(4, 4))
    ConfusionMatrixDisplay.from_predictions(y, (p >= threshold).astype(int), ax=ax, colorbar=False,
                                            display_labels=["stays", "cancels"])
    ax.set_title(f"Confusion matrix (threshold {threshold:.3f})")
    figs["confusion.png"] = fig
    fig, ax = plt.subplots(figsize=(5, 4))
    frac, mean_p = calibration_curve(y, p, n_bins=10, strategy="quantile")
    ax.plot(mean_p, frac, "o-", label="selected model")
    ax.plot([0, max(mean_p.max(), frac.max())], [0, max(mean_p.max(), frac.max())], "k:", lw=0.8)
    ax.set(xlabel="predicted probability", ylabel="observed frequency", title="Calibration")
    figs["calibration.png"] = fig
    return figs


def shap_plots(shap_values: np.ndarray, X: np.ndarray, names: list[str]) -> dict[str, Any]:
    """SHAP beeswarm and mean |SHAP| bar chart."""
    import shap

    plt = _plt()
    labels = [feature_label(n) for n in names]
    explanation = shap.Explanation(values=shap_values, data=X, feature_names=labels)
    figs = {}
    plt.figure(figsize=(7, 6))
    shap.plots.beeswarm(explanation, max_display=15, show=False)
    figs["shap_beeswarm.png"] = plt.gcf()
    plt.figure(figsize=(7, 6))
    shap.plots.bar(explanation, max_display=15, show=False)
    figs["shap_importance.png"] = plt.gcf()
    return figs


def _fmt(block: dict | None) -> str:
    if not block:
        return "| - | - | - | - | - | - | - |"
    keys = ("f1", "precision", "recall", "average_precision", "auroc", "brier", "top_decile_lift")
    return "| " + " | ".join(f"{block.get(k, float('nan')):.3f}" for k in keys) + " |"


def model_card(version: str, meta: dict, metrics: dict, importance: dict) -> str:
    """A markdown model card: data, task, metrics against baselines, threshold and top drivers."""
    day = lambda ms: time.strftime("%Y-%m-%d", time.gmtime(ms / 1000))  # noqa: E731
    rows = [("selected: " + metrics["model"], metrics), ("selected, time backtest", metrics.get("backtest")),
            ("whole-history baseline (original approach)", metrics.get("whole_history_baseline")),
            ("best possible (simulator truth)", metrics.get("best_possible"))]
    rows += [(f"candidate: {k}", v) for k, v in metrics.get("candidates", {}).items()]
    table = "\n".join(f"| {name} " + _fmt(block) for name, block in rows)
    top = sorted(importance.items(), key=lambda kv: -kv[1])[:10]
    drivers = "\n".join(f"{i + 1}. {feature_label(k)} (`{k}`): mean |SHAP| {v:.3f}" for i, (k, v) in enumerate(top))
    frac = metrics.get("fraction_of_best_auroc")
    return f"""# Churn-risk model {version}

**Task.** For a user active at time *t* (registered, not cancelled), the probability of a Cancellation
Confirmation within the next {meta['horizon_days']:g} days. Features use events at or before *t* only
(feature version {meta['feature_version']}, {len(meta['feature_names'])} features).

**Data.** {meta['data']['paths']}; {meta['data']['n_events']:,} valid events of {meta['data']['n_users']:,} users
({meta['data']['n_churned']:,} cancelled), {day(meta['data']['first_ts'])} to {day(meta['data']['last_ts'])}.
Fingerprint `{meta['fingerprint']}`. Cutoffs every {meta['cutoff_every_days']} days from
{day(meta['cutoffs'][0] + 1)} to {day(meta['cutoffs'][-1] + 1)} ({len(meta['cutoffs'])} cutoffs,
{meta['rows']['train']:,} training and {meta['rows']['test']:,} test snapshots; users split
{1 - meta['test_fraction']:.0%}/{meta['test_fraction']:.0%}, no user in both).

**Model.** {metrics['model']} with {metrics.get('params')}; decision threshold {metrics['threshold']:.3f}
(best F1 on out-of-fold validation predictions). Selected by validation F1 among executor-scorable candidates.

## Metrics (test users, forward task)
| model | F1 | precision | recall | AP | AUROC | Brier | top-decile lift |
|---|---|---|---|---|---|---|---|
{table}

Fraction of the best possible AUROC reached: {'n/a (no truth file)' if frac is None else f'{frac:.3f}'}.
The whole-history baseline is the original project's approach (all of a user's events, label "ever
cancelled") scored on the same forward task; the backtest trains on early cutoffs and tests on later ones.

## Top drivers (mean |SHAP|, log-odds, test snapshots)
{drivers}

Plots: `roc.png`, `pr.png`, `confusion.png`, `calibration.png`, `shap_beeswarm.png`, `shap_importance.png`.
"""
