"""The training run: log -> point-in-time set -> candidates -> evaluation -> SHAP -> artifact."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from contracts.artifact import ModelArtifact, save_artifact
from contracts.features import DAY_MS, FEATURE_NAMES, FEATURE_VERSION
from training import dataset, evaluation, models, report

ALL_MODELS = ("sklearn_logistic_regression", "sklearn_hist_gradient_boosting", "spark_logistic_regression",
              "spark_gbt")


@dataclass
class Config:
    data: list[str]
    out: Path
    horizon_days: int = 14
    cutoff_every_days: int = 3
    min_history_days: int = 7
    test_fraction: float = 0.25
    folds: int = 3
    models: tuple[str, ...] = ALL_MODELS
    seed: int = 0
    shap_sample: int = 2000
    make_latest: bool = True


@dataclass
class Stages:
    """Seconds per stage, printed as they finish."""
    log: Callable[[str], None] = print
    seconds: dict[str, float] = field(default_factory=dict)

    def run(self, name: str, fn: Callable, *args, **kwargs):
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        self.seconds[name] = round(time.perf_counter() - start, 2)
        self.log(f"[training] {name}: {self.seconds[name]:.1f} s")
        return result


def split_users(users: np.ndarray, test_fraction: float, seed: int) -> np.ndarray:
    """True for test users: a seeded random subset of the distinct users."""
    distinct = np.unique(users)
    rng = np.random.default_rng(seed)
    test = set(rng.choice(distinct, size=max(1, int(round(len(distinct) * test_fraction))), replace=False))
    return np.array([u in test for u in users])


def run(cfg: Config, spark, stages: Stages | None = None) -> ModelArtifact:
    stages = stages or Stages()
    partials = stages.run("read_and_aggregate", dataset.load_partials, spark, cfg.data)
    summary = stages.run("summarize", dataset.summarize, partials)
    epoch = summary.epoch_ms
    days = dataset.cutoff_days(summary, cfg.cutoff_every_days, cfg.horizon_days, cfg.min_history_days)
    pit = stages.run("point_in_time_set", dataset.point_in_time, spark, partials, epoch, days, cfg.horizon_days)
    whole = stages.run("whole_history_set", dataset.whole_history, partials, epoch)
    if pit.y.sum() == 0 or pit.y.sum() == len(pit.y):
        raise ValueError("the point-in-time set has a single class: the log needs cancellations and stayers")
    X = pit.X.to_numpy(dtype="float64")
    test = split_users(pit.users, cfg.test_fraction, cfg.seed)
    tr = ~test
    stages.log(f"[training] {len(pit.y):,} snapshots ({int(pit.y.sum()):,} positive), {len(days)} cutoffs, "
               f"{len(np.unique(pit.users[tr])):,} train / {len(np.unique(pit.users[test])):,} test users")

    def fit_all():
        cands = [models.tune_sklearn(n, X[tr], pit.y[tr], pit.users[tr], cfg.folds)
                 for n in cfg.models if n.startswith("sklearn_")]
        spark_names = [n for n in cfg.models if n.startswith("spark_")]
        if spark_names:
            cands += models.spark_candidates(spark, X[tr], pit.y[tr], pit.users[tr], spark_names)
        return cands

    # OpenMP threads of scikit-learn spin against Spark's JVM on a small, shared machine: one is faster
    from threadpoolctl import threadpool_limits

    threads = int(os.environ.get("SPARKIFY_TRAIN_THREADS", "1"))
    limiter = threadpool_limits(threads)
    candidates = stages.run("fit_candidates", fit_all)
    selectable = [c for c in candidates if c.selectable]
    if not selectable:
        raise ValueError("no executor-scorable model among --models")
    chosen = max(selectable, key=lambda c: c.validation["f1"])
    stages.log(f"[training] selected {chosen.name} (validation F1 {chosen.validation['f1']:.3f})")

    def evaluate():
        y_te = pit.y[test]
        p_te = chosen.predict_proba(X[test])
        out = {**evaluation.metrics(y_te, p_te, chosen.threshold), "model": chosen.name, "params": chosen.params}
        out["candidates"] = {c.name: {**evaluation.metrics(y_te, c.predict_proba(X[test]), c.threshold),
                                      "validation": c.validation, "selectable": c.selectable}
                             for c in candidates}
        # the original approach: whole histories of the training users, label "ever cancelled"
        wh_train = ~np.isin(whole.users, pit.users[test])
        wh = models.tune_sklearn("sklearn_hist_gradient_boosting", whole.X.to_numpy()[wh_train], whole.y[wh_train],
                                 whole.users[wh_train], cfg.folds)
        p_wh = wh.predict_proba(X[test])
        out["whole_history_baseline"] = {**evaluation.metrics(y_te, p_wh, evaluation.best_f1_threshold(
            pit.y[tr], wh.predict_proba(X[tr]))), "note": "trained on whole histories, scored on the forward task"}
        best = evaluation.truth_forecast(cfg.data, pit.users, pit.cutoffs, cfg.horizon_days)
        p_best = None
        if best is not None and np.isfinite(best[test]).all():
            p_best = best[test]
            out["best_possible"] = evaluation.metrics(y_te, p_best, evaluation.best_f1_threshold(pit.y[tr], best[tr]))
            out["fraction_of_best_auroc"] = out["auroc"] / out["best_possible"]["auroc"]
        out["backtest"] = backtest(chosen, X, pit, tr, test, days, cfg)
        return out, p_te, p_wh, p_best

    metrics, p_te, p_wh, p_best = stages.run("evaluate", evaluate)

    def explain():
        rng = np.random.default_rng(cfg.seed)
        idx = np.flatnonzero(test)
        idx = idx if len(idx) <= cfg.shap_sample else np.sort(rng.choice(idx, cfg.shap_sample, replace=False))
        start = time.perf_counter()
        _, shap_values = chosen.scorer.predict_and_explain(X[idx])
        per_row_ms = (time.perf_counter() - start) * 1000 / max(len(idx), 1)
        importance = dict(zip(FEATURE_NAMES, np.abs(shap_values).mean(axis=0).tolist()))
        return shap_values, X[idx], importance, per_row_ms

    shap_values, shap_X, importance, per_row_ms = stages.run("shap", explain)
    metrics["shap_ms_per_row"] = per_row_ms
    plots = stages.run("plots", lambda: {**report.evaluation_plots(pit.y[test], p_te, chosen.threshold, p_wh, p_best),
                                          **report.shap_plots(shap_values, shap_X, list(FEATURE_NAMES))})
    meta = {
        "horizon_days": cfg.horizon_days, "cutoff_every_days": cfg.cutoff_every_days,
        "cutoffs": [dataset.cutoff_ms(d) for d in days], "feature_names": list(FEATURE_NAMES),
        "feature_version": FEATURE_VERSION,
        "test_fraction": cfg.test_fraction, "model": chosen.name, "params": chosen.params,
        "rows": {"train": int(tr.sum()), "test": int(test.sum())},
        "data": {"paths": [str(p) for p in cfg.data], "first_ts": summary.first_ts, "last_ts": summary.last_ts,
                 "n_events": summary.n_events, "n_users": summary.n_users, "n_churned": summary.n_churned},
        "shap_expected_value": chosen.scorer.expected_value, "shap_ms_per_row": per_row_ms,
        "fingerprint": dataset.fingerprint(cfg.data, summary),
    }
    from contracts.artifact import new_version  # only for the card's title; save_artifact picks the real one
    card = report.model_card(new_version(meta["fingerprint"]), meta, metrics, importance)

    def save():
        art = save_artifact(cfg.out, chosen.scorer, threshold=chosen.threshold, feature_names=FEATURE_NAMES,
                            epoch_ms=epoch, horizon_days=cfg.horizon_days, metrics=metrics, metadata=meta,
                            global_importance=importance, plots=plots, model_card="", fingerprint=meta["fingerprint"],
                            make_latest=False)
        (art.path / "model_card.md").write_text(card.replace(card.splitlines()[0], f"# Churn-risk model {art.version}"))
        if cfg.make_latest:
            from contracts.artifact import write_latest
            write_latest(cfg.out, art.version)
        _log_mlflow(art, metrics)
        return art

    art = stages.run("save", save)
    limiter.restore_original_limits()
    import matplotlib.pyplot as plt
    plt.close("all")
    return art


def backtest(chosen: models.Candidate, X: np.ndarray, pit: dataset.PointInTime, tr: np.ndarray, test: np.ndarray,
             days: list[int], cfg: Config) -> dict:
    """Train (same model, same params) on early cutoffs whose labels are known before the split time,
    test on the later cutoffs of the test users."""
    later = [d for d in days if d >= days[0] + cfg.horizon_days]
    if not later:
        return {"note": "too few cutoffs for a backtest"}
    split_day = later[len(later) // 2] if len(later) > 2 else later[0]
    split_ms = dataset.cutoff_ms(split_day)
    early = tr & (pit.cutoffs + cfg.horizon_days * DAY_MS <= split_ms)
    late = test & (pit.cutoffs >= split_ms)
    if early.sum() == 0 or late.sum() == 0 or len(np.unique(pit.y[early])) < 2:
        return {"note": "too few cutoffs for a backtest"}
    if chosen.name.startswith("sklearn_"):
        fit = models.GRIDS[chosen.name][0]
        scorer = fit(X[early], pit.y[early], **chosen.params)
        p = scorer.predict(X[late])
    else:
        p = chosen.predict_proba(X[late])  # Spark candidates: trained on all training cutoffs (noted)
    out = evaluation.metrics(pit.y[late], p, chosen.threshold)
    out["split_ms"] = split_ms
    return out


def _log_mlflow(art: ModelArtifact, metrics: dict) -> None:
    """Optional: log to MLflow only when a tracking URI is set and mlflow is importable."""
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        return
    try:
        import mlflow
    except ImportError:
        return
    with mlflow.start_run(run_name=art.version):
        mlflow.log_metrics({k: v for k, v in metrics.items() if isinstance(v, float) and np.isfinite(v)})
        mlflow.log_artifacts(str(art.path))
