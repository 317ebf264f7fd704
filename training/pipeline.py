"""The training run, one function a stage: log -> point-in-time set -> candidates on shared folds ->
selection -> evaluation with intervals -> SHAP -> plots and card -> artifact (complete or absent)."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from contracts.artifact import CI_KEYS, ModelArtifact, new_version, save_artifact, write_latest
from contracts.drift import DriftReference
from contracts.features import DAY_MS, FEATURE_NAMES, FEATURE_VERSION
from contracts.metrics import expected_calibration_error
from training import bootstrap, calibration, dataset, evaluation, models, report

ALL_MODELS = ("sklearn_logistic_regression", "sklearn_hist_gradient_boosting", "spark_logistic_regression",
              "spark_gbt")
#: Features left out of the model unless asked for: a protected attribute is no reason to show a retention
#: team (it stays on the user's record as a display and segment attribute).
PROTECTED_FEATURES = ("gender_male",)
#: The original project's way, kept as the baseline: one HistGradientBoosting configuration on whole histories.
WHOLE_HISTORY_PARAMS = {"max_iter": 120, "learning_rate": 0.1, "max_depth": 3, "max_leaf_nodes": 15,
                        "l2_regularization": 1.0}


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
    threshold_rule: str = "best_f1"
    with_gender: bool = False
    bootstrap_replicates: int = 1000


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


@dataclass
class TrainingSets:
    """What every stage after the Spark pass reads: the snapshots, the split, the folds, the feature list."""
    summary: dataset.LogSummary
    days: list[int]
    pit: dataset.PointInTime
    whole: dataset.PointInTime
    names: tuple[str, ...]
    X: np.ndarray
    test: np.ndarray  # bool per snapshot: a test user's
    fold: np.ndarray  # fold number per training snapshot

    @property
    def train(self) -> np.ndarray:
        return ~self.test


@dataclass
class Evaluation:
    metrics: dict
    p_test: np.ndarray
    p_test_uncalibrated: np.ndarray
    p_whole_history: np.ndarray
    p_best: np.ndarray | None


def feature_list(with_gender: bool) -> tuple[str, ...]:
    return tuple(n for n in FEATURE_NAMES if with_gender or n not in PROTECTED_FEATURES)


def split_users(users: np.ndarray, test_fraction: float, seed: int) -> np.ndarray:
    """True for test users: a seeded random subset of the distinct users."""
    distinct = np.unique(users)
    rng = np.random.default_rng(seed)
    test = set(rng.choice(distinct, size=max(1, int(round(len(distinct) * test_fraction))), replace=False))
    return np.array([u in test for u in users])


def build_sets(cfg: Config, spark, stages: Stages) -> TrainingSets:
    partials = stages.run("read_and_aggregate", dataset.load_partials, spark, cfg.data)
    summary = stages.run("summarize", dataset.summarize, partials)
    days = dataset.cutoff_days(summary, cfg.cutoff_every_days, cfg.horizon_days, cfg.min_history_days)
    pit = stages.run("point_in_time_set", dataset.point_in_time, spark, partials, summary.epoch_ms, days,
                     cfg.horizon_days)
    whole = stages.run("whole_history_set", dataset.whole_history, partials, summary.epoch_ms)
    partials.unpersist()
    if pit.y.sum() == 0 or pit.y.sum() == len(pit.y):
        raise ValueError("the point-in-time set has a single class: the log needs cancellations and stayers")
    names = feature_list(cfg.with_gender)
    test = split_users(pit.users, cfg.test_fraction, cfg.seed)
    fold = models.user_folds(pit.users[~test], cfg.folds, cfg.seed)
    sets = TrainingSets(summary, days, pit, whole, names, pit.X[list(names)].to_numpy(dtype="float64"), test, fold)
    if len(np.unique(pit.y[~test])) < 2:
        raise ValueError("the training users' snapshots have a single class: the log needs more cancellations")
    stages.log(f"[training] {len(pit.y):,} snapshots ({int(pit.y.sum()):,} positive), {len(days)} cutoffs, "
               f"{len(np.unique(pit.users[~test])):,} train / {len(np.unique(pit.users[test])):,} test users, "
               f"{len(names)} features")
    return sets


def fit_candidates(cfg: Config, spark, sets: TrainingSets) -> list[models.Candidate]:
    """Every requested candidate on the same folds, each calibrated and scored by calibrated OOF log loss."""
    X, y = sets.X[sets.train], sets.pit.y[sets.train]
    cands = [models.SKLEARN[n](X, y, sets.fold) for n in cfg.models if n in models.SKLEARN]
    spark_names = [n for n in cfg.models if n.startswith("spark_")]
    if spark_names:
        from training.spark_models import spark_candidates

        cands += spark_candidates(spark, X, y, sets.fold, spark_names)
    return [models.finish(c, y, sets.fold, cfg.threshold_rule) for c in cands]


def whole_history_baseline(sets: TrainingSets) -> tuple[np.ndarray, float]:
    """The original approach (whole histories of the training users, label "ever cancelled"), scored on the
    forward task's test snapshots; its threshold is the best F1 on the training users' snapshots."""
    whole = sets.whole
    rows = ~np.isin(whole.users, sets.pit.users[sets.test])
    scorer = models.fit_hgb(whole.X[list(sets.names)].to_numpy()[rows], whole.y[rows], **WHOLE_HISTORY_PARAMS)
    threshold = evaluation.best_f1_threshold(sets.pit.y[sets.train], scorer.predict(sets.X[sets.train]))
    return scorer.predict(sets.X[sets.test]), threshold


def evaluate(cfg: Config, sets: TrainingSets, chosen: models.Candidate,
             candidates: list[models.Candidate]) -> Evaluation:
    test, tr, X, pit = sets.test, sets.train, sets.X, sets.pit
    y_te = pit.y[test]
    p_te = chosen.predict_proba(X[test])
    p_raw = 1.0 / (1.0 + np.exp(-chosen.base.margin(X[test])))
    out = {**evaluation.metrics(y_te, p_te, chosen.threshold), "model": chosen.name, "params": chosen.params,
           "selection": "lowest log loss of calibrated out-of-fold risks, same user-grouped folds for every candidate",
           "threshold_rule": cfg.threshold_rule, "validation": chosen.validation,
           "feature_names": list(sets.names)}
    out["calibration"] = {**chosen.calibrator.describe(), "oof_log_loss": chosen.calibration_log_loss,
                          "ece_before": expected_calibration_error(y_te, p_raw),
                          "ece_after": out["ece"],
                          "reliability_before": calibration.reliability(y_te, p_raw),
                          "reliability_after": calibration.reliability(y_te, p_te)}
    out["candidates"] = {c.name: {**evaluation.metrics(y_te, c.predict_proba(X[test]), c.threshold),
                                  "params": c.params, "validation": c.validation, "search": c.search}
                         for c in candidates}
    p_wh, thr_wh = whole_history_baseline(sets)
    out["whole_history_baseline"] = {**evaluation.metrics(y_te, p_wh, thr_wh),
                                     "note": "trained on whole histories, scored on the forward task, not calibrated"}
    best = evaluation.truth_forecast(cfg.data, pit.users, pit.cutoffs, cfg.horizon_days)
    p_best = None
    scored = {"selected": (p_te, chosen.threshold), "whole_history_baseline": (p_wh, thr_wh)}
    if best is not None and np.isfinite(best[test]).all():
        p_best = best[test]
        thr_best = evaluation.best_f1_threshold(pit.y[tr], best[tr])
        out["best_possible"] = evaluation.metrics(y_te, p_best, thr_best)
        out["fraction_of_best_auroc"] = out["auroc"] / out["best_possible"]["auroc"]
        scored["best_possible"] = (p_best, thr_best)
    intervals = bootstrap.user_bootstrap(pit.users[test], y_te, scored,
                                         {"selected_minus_baseline": ("selected", "whole_history_baseline")},
                                         replicates=cfg.bootstrap_replicates, seed=cfg.seed)
    out.update(intervals["selected"])
    out["whole_history_baseline"].update(intervals["whole_history_baseline"])
    if p_best is not None:
        out["best_possible"].update(intervals["best_possible"])
    diff = {k: out[k] - out["whole_history_baseline"][k] for k in CI_KEYS}
    diff.update(intervals["selected_minus_baseline"])
    low, high = diff["auroc_ci"]
    diff["auroc_beyond_noise"] = bool(low > 0 or high < 0)
    out["selected_minus_baseline"] = diff
    out["bootstrap"] = {"replicates": cfg.bootstrap_replicates, "resampled": "test users",
                        "test_users": int(len(np.unique(pit.users[test]))), "level": 0.95}
    raw_te = pit.raw[test]
    out["segments"] = evaluation.segment_metrics(y_te, p_te, chosen.threshold,
                                                 {"gender": raw_te["gender"].fillna("").to_numpy(),
                                                  "level": raw_te["level"].fillna("").to_numpy()})
    out["backtest"] = backtest(chosen, sets, cfg)
    return Evaluation(out, p_te, p_raw, p_wh, p_best)


def backtest(chosen: models.Candidate, sets: TrainingSets, cfg: Config) -> dict:
    """Train (same model, same params, same calibrator) on early cutoffs whose labels are known before the
    split time, test on the later cutoffs of the test users."""
    pit, X, days = sets.pit, sets.X, sets.days
    later = [d for d in days if d >= days[0] + cfg.horizon_days]
    if not later:
        return {"note": "too few cutoffs for a backtest"}
    split_day = later[len(later) // 2] if len(later) > 2 else later[0]
    split_ms = dataset.cutoff_ms(split_day)
    early = sets.train & (pit.cutoffs + cfg.horizon_days * DAY_MS <= split_ms)
    late = sets.test & (pit.cutoffs >= split_ms)
    if early.sum() == 0 or late.sum() == 0 or len(np.unique(pit.y[early])) < 2:
        return {"note": "too few cutoffs for a backtest"}
    base = models.refit(chosen, X[early], pit.y[early])
    note = "refitted on the early cutoffs"
    if base is None:  # Spark candidates: trained on all training cutoffs
        base, note = chosen.base, "Spark model trained on all training cutoffs (not refitted)"
    out = evaluation.metrics(pit.y[late], chosen.calibrator(base.margin(X[late])), chosen.threshold)
    out["split_ms"] = split_ms
    out["note"] = note
    return out


def explain(cfg: Config, sets: TrainingSets, chosen: models.Candidate) -> tuple[np.ndarray, np.ndarray, dict, float]:
    """SHAP of the margin on a sample of test snapshots: global importance, plots, cost per row."""
    rng = np.random.default_rng(cfg.seed)
    idx = np.flatnonzero(sets.test)
    idx = idx if len(idx) <= cfg.shap_sample else np.sort(rng.choice(idx, cfg.shap_sample, replace=False))
    start = time.perf_counter()
    _, shap_values = chosen.scorer.predict_and_explain(sets.X[idx])
    per_row_ms = (time.perf_counter() - start) * 1000 / max(len(idx), 1)
    importance = dict(zip(sets.names, np.abs(shap_values).mean(axis=0).tolist()))
    return shap_values, sets.X[idx], importance, per_row_ms


def metadata(cfg: Config, sets: TrainingSets, chosen: models.Candidate, per_row_ms: float) -> dict:
    s = sets.summary
    return {
        "horizon_days": cfg.horizon_days, "cutoff_every_days": cfg.cutoff_every_days,
        "cutoffs": [dataset.cutoff_ms(d) for d in sets.days], "feature_names": list(sets.names),
        "feature_version": FEATURE_VERSION, "protected_features_excluded": [n for n in PROTECTED_FEATURES
                                                                             if n not in sets.names],
        "test_fraction": cfg.test_fraction, "folds": cfg.folds, "model": chosen.name, "params": chosen.params,
        "calibration": chosen.calibrator.describe(), "threshold_rule": cfg.threshold_rule,
        "rows": {"train": int(sets.train.sum()), "test": int(sets.test.sum())},
        "data": {"paths": [str(p) for p in cfg.data], "first_ts": s.first_ts, "last_ts": s.last_ts,
                 "n_events": s.n_events, "n_users": s.n_users, "n_churned": s.n_churned},
        "shap_expected_value": chosen.scorer.expected_value, "shap_output": "margin (log-odds), before calibration",
        "shap_ms_per_row": per_row_ms, "fingerprint": dataset.fingerprint(cfg.data, s),
    }


def drift_reference(sets: TrainingSets, p_test: np.ndarray) -> DriftReference:
    """What the stream measures drift against: the model features of the snapshots the final model was
    fitted on (the training users'), and the calibrated risk it predicts on the test snapshots."""
    return DriftReference.build(pd.DataFrame(sets.X[sets.train], columns=list(sets.names)), p_test)


def publish(cfg: Config, sets: TrainingSets, chosen: models.Candidate, metrics: dict, meta: dict,
            importance: dict, plots: dict, reference: DriftReference | None = None) -> ModelArtifact:
    """Card, plots, drift reference and model written in one temporary folder, renamed when complete;
    then ``latest``."""
    version = new_version(meta["fingerprint"])
    card = report.model_card(version, meta, metrics, importance)
    art = save_artifact(cfg.out, chosen.scorer, threshold=chosen.threshold, feature_names=sets.names,
                        epoch_ms=sets.summary.epoch_ms, horizon_days=cfg.horizon_days, metrics=metrics, metadata=meta,
                        global_importance=importance, plots=plots, model_card=card, fingerprint=meta["fingerprint"],
                        make_latest=False, version=version, reference=reference)
    if cfg.make_latest:
        write_latest(cfg.out, art.version)
    _log_mlflow(art, metrics)
    return art


def run(cfg: Config, spark, stages: Stages | None = None) -> ModelArtifact:
    from threadpoolctl import threadpool_limits

    stages = stages or Stages()
    sets = build_sets(cfg, spark, stages)
    # OpenMP threads of scikit-learn spin against Spark's JVM on a small, shared machine: one is faster
    with threadpool_limits(int(os.environ.get("SPARKIFY_TRAIN_THREADS", "1"))):
        candidates = stages.run("fit_candidates", fit_candidates, cfg, spark, sets)
        chosen = models.select(candidates)
        stages.log(f"[training] selected {chosen.name} (calibrated out-of-fold log loss {chosen.log_loss:.4f}; "
                   + ", ".join(f"{c.name} {c.log_loss:.4f}" for c in candidates if c is not chosen) + ")")
        ev = stages.run("evaluate", evaluate, cfg, sets, chosen, candidates)
        shap_values, shap_X, importance, per_row_ms = stages.run("shap", explain, cfg, sets, chosen)
    ev.metrics["shap_ms_per_row"] = per_row_ms
    y_te = sets.pit.y[sets.test]
    plots = stages.run("plots", lambda: {
        **report.evaluation_plots(y_te, ev.p_test, chosen.threshold, ev.p_whole_history, ev.p_best,
                                  uncalibrated=ev.p_test_uncalibrated),
        **report.shap_plots(shap_values, shap_X, list(sets.names))})
    meta = metadata(cfg, sets, chosen, per_row_ms)
    reference = stages.run("drift_reference", drift_reference, sets, ev.p_test)
    try:
        art = stages.run("save", publish, cfg, sets, chosen, ev.metrics, meta, importance, plots, reference)
    finally:
        import matplotlib.pyplot as plt

        plt.close("all")
    return art


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
