"""Plots (matplotlib, Agg) and the markdown model card of a trained model."""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from contracts.artifact import CI_KEYS, METRIC_KEYS, METRIC_LABELS
from contracts.features import feature_label


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def evaluation_plots(y: np.ndarray, p: np.ndarray, threshold: float, baseline: np.ndarray | None = None,
                     best: np.ndarray | None = None, uncalibrated: np.ndarray | None = None) -> dict[str, Any]:
    """ROC, precision-recall, confusion matrix and reliability (before and after calibration) figures,
    keyed by file name."""
    from contracts.metrics import expected_calibration_error
    from training.calibration import reliability
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
    top = 0.0
    for label, q, style in (("before calibration (model's sigmoid)", uncalibrated, "s--"),
                            ("after calibration (the risk written)", p, "o-")):
        if q is None:
            continue
        points = reliability(y, q)
        ax.plot(points["mean_predicted"], points["observed_rate"], style,
                label=f"{label}, ECE {expected_calibration_error(y, q):.4f}")
        top = max(top, max(points["mean_predicted"]), max(points["observed_rate"]))
    ax.plot([0, top], [0, top], "k:", lw=0.8)
    ax.set(xlabel="mean predicted risk (10 equal-count bins)", ylabel="observed cancellation rate",
           title="Reliability, test snapshots")
    ax.legend(fontsize=7)
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


def _cell(block: dict, key: str) -> str:
    value = block.get(key, float("nan"))
    ci = block.get(f"{key}_ci")
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{value:.3f}"


def _fmt(block: dict | None) -> str:
    if not block:
        return "| " + " | ".join("-" for _ in METRIC_KEYS) + " |"
    return "| " + " | ".join(_cell(block, k) for k in METRIC_KEYS) + " |"


def _header(first: str) -> str:
    return (f"| {first} | " + " | ".join(METRIC_LABELS[k] for k in METRIC_KEYS) + " |\n|"
            + "---|" * (len(METRIC_KEYS) + 1))


def _difference(metrics: dict) -> str:
    diff = metrics.get("selected_minus_baseline")
    if not diff:
        return ""
    parts = "; ".join(f"{METRIC_LABELS[k]} {diff[k]:+.3f} [{diff[k + '_ci'][0]:+.3f}, {diff[k + '_ci'][1]:+.3f}]"
                      for k in CI_KEYS)
    low, high = diff["auroc_ci"]
    verdict = ("the AUROC difference is beyond noise at 95%: its interval excludes 0" if diff["auroc_beyond_noise"]
               else "the AUROC difference is within noise at 95%: its interval includes 0, so these test users do "
                    "not tell the two apart")
    return f"""**Selected minus whole-history baseline** (paired, same bootstrap replicates): {parts}.
So {verdict} ([{low:+.3f}, {high:+.3f}]).
"""


def _segments(metrics: dict) -> str:
    seg = metrics.get("segments") or {}
    rows = []
    for attribute, blocks in seg.items():
        for value, block in blocks.items():
            rows.append(f"| {attribute} = {value} | {block['n']:,} | {block['positives']:,} | {block['auroc']:.3f} | "
                        f"{block['average_precision']:.3f} | {block['ece']:.4f} | {block['recall']:.3f} | "
                        f"{block['precision']:.3f} |")
    if not rows:
        return ""
    return ("| segment | snapshots | positives | AUROC | AP | ECE | recall | precision |\n"
            "|---|---|---|---|---|---|---|---|\n" + "\n".join(rows))


def model_card(version: str, meta: dict, metrics: dict, importance: dict) -> str:
    """A markdown model card: data, task, selection, calibration, metrics with intervals against baselines,
    per-segment metrics, threshold and top drivers."""
    day = lambda ms: time.strftime("%Y-%m-%d", time.gmtime(ms / 1000))  # noqa: E731
    rows = [("selected: " + metrics["model"], metrics), ("selected, time backtest", metrics.get("backtest")),
            ("whole-history baseline (original approach)", metrics.get("whole_history_baseline")),
            ("best possible (simulator truth)", metrics.get("best_possible"))]
    rows += [(f"candidate: {k}", v) for k, v in metrics.get("candidates", {}).items()]
    table = "\n".join(f"| {name} " + _fmt(block) for name, block in rows)
    top = sorted(importance.items(), key=lambda kv: -kv[1])[:10]
    drivers = "\n".join(f"{i + 1}. {feature_label(k)} (`{k}`): mean |SHAP| {v:.3f}" for i, (k, v) in enumerate(top))
    frac = metrics.get("fraction_of_best_auroc")
    cal = metrics.get("calibration", {})
    search = "\n".join(f"| {name} | {c['validation'].get('log_loss', float('nan')):.4f} | "
                       f"{c['validation'].get('calibration', {}).get('method', '-')} | {c['params']} |"
                       for name, c in metrics.get("candidates", {}).items())
    boot = metrics.get("bootstrap", {})
    excluded = meta.get("protected_features_excluded") or []
    left_out = (f"; left out: {', '.join(excluded)}, a protected attribute (`--with-gender` brings it back)"
                if excluded else "")
    return f"""# Churn-risk model {version}

**Task.** For a user active at time *t* (registered, not cancelled), the probability of a Cancellation
Confirmation within the next {meta['horizon_days']:g} days. Features use events at or before *t* only
(feature version {meta['feature_version']}, {len(meta['feature_names'])} features{left_out}).

**Data.** {meta['data']['paths']}; {meta['data']['n_events']:,} valid events of {meta['data']['n_users']:,} users
({meta['data']['n_churned']:,} cancelled), {day(meta['data']['first_ts'])} to {day(meta['data']['last_ts'])}.
Fingerprint `{meta['fingerprint']}`. Cutoffs every {meta['cutoff_every_days']} days from
{day(meta['cutoffs'][0] + 1)} to {day(meta['cutoffs'][-1] + 1)} ({len(meta['cutoffs'])} cutoffs,
{meta['rows']['train']:,} training and {meta['rows']['test']:,} test snapshots; users split
{1 - meta['test_fraction']:.0%}/{meta['test_fraction']:.0%}, no user in both).

**Selection.** Every candidate is fitted on the same {meta.get('folds', 3)} user-grouped folds of the training
users; each gets a calibrator (isotonic or sigmoid, whichever has the lower cross-fitted out-of-fold log loss)
and the one whose calibrated out-of-fold risks have the lowest log loss is selected. Log loss is a strictly
proper scoring rule: it is best only for probabilities that are right as probabilities, which is what the
risk shown to a retention team claims to be.

| candidate | calibrated out-of-fold log loss | calibrator | parameters |
|---|---|---|---|
{search}

**Model.** {metrics['model']} with {metrics.get('params')}; calibrator {cal.get('method')}
(out-of-fold log loss per method: {cal.get('oof_log_loss')}). Alert threshold {metrics['threshold']:.3f} on the
calibrated risk (rule `{metrics.get('threshold_rule', 'best_f1')}` on the calibrated out-of-fold risks).

**Calibration.** The risk written to Redis is the calibrated probability. Expected calibration error on the
test snapshots (10 equal-count bins): {cal.get('ece_before', float('nan')):.4f} before calibration (the model's
own sigmoid), {cal.get('ece_after', float('nan')):.4f} after (`calibration.png`: reliability before and after).
SHAP values explain the model's margin (log-odds before calibration): they add up to it with the expected
value {meta.get('shap_expected_value', float('nan')):.3f}, and the calibrated risk is a non-decreasing function
of that margin, so a driver that raises the margin never lowers the risk.

## Metrics (test users, forward task)
Figures with 95% bootstrap intervals in brackets ({boot.get('replicates', 0):,} replicates resampling the
{boot.get('test_users', 0):,} test users, not snapshots).

{_header('model')}
{table}

{_difference(metrics)}
Fraction of the best possible AUROC reached: {'n/a (no truth file)' if frac is None else f'{frac:.3f}'}.
The whole-history baseline is the original project's approach (all of a user's events, label "ever
cancelled") scored on the same forward task; the backtest trains on early cutoffs and tests on later ones.

## Per segment (selected model, test snapshots)
Gender is not a model feature by default; it stays a display and segment attribute so a team can check the
model ranks and calibrates each segment alike.

{_segments(metrics)}

## Top drivers (mean |SHAP|, log-odds, test snapshots)
{drivers}

Plots: `roc.png`, `pr.png`, `confusion.png`, `calibration.png`, `shap_beeswarm.png`, `shap_importance.png`.
"""
