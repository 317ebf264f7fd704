"""End to end: a tiny log through the training pipeline to a complete, loadable artifact."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from contracts.artifact import CI_KEYS, METRIC_KEYS, latest_version, load_artifact
from contracts.features import DAY_MS, FEATURE_NAMES

pytestmark = pytest.mark.integration


@pytest.mark.slow
def test_training_writes_a_complete_artifact(trained):
    art = load_artifact(trained.path.parent)
    assert art.version == trained.version == latest_version(trained.path.parent)
    files = {p.name for p in art.path.iterdir()}
    assert {"model.joblib", "metadata.json", "metrics.json", "model_card.md", "roc.png", "pr.png", "confusion.png",
            "calibration.png", "shap_beeswarm.png", "shap_importance.png"} <= files
    assert not [p for p in art.path.parent.iterdir() if p.name.startswith(".") and p.is_dir()]
    m = art.metrics
    for block in (m, m["backtest"], m["whole_history_baseline"], m["best_possible"]):
        assert set(METRIC_KEYS) <= set(block)
    # 95% intervals beside each figure, for the model, the baseline, the best forecast and the difference
    for block in (m, m["whole_history_baseline"], m["best_possible"], m["selected_minus_baseline"]):
        for k in CI_KEYS:
            low, high = block[f"{k}_ci"]
            assert np.isfinite([low, high]).all() and low <= high, k
    low, high = m["auroc_ci"]
    assert low <= m["auroc"] <= high
    assert m["bootstrap"]["resampled"] == "test users" and m["bootstrap"]["replicates"] >= 100
    d_low, d_high = m["selected_minus_baseline"]["auroc_ci"]
    assert m["selected_minus_baseline"]["auroc_beyond_noise"] == (not d_low <= 0 <= d_high)
    assert set(m["candidates"]) == {"sklearn_logistic_regression", "sklearn_hist_gradient_boosting"}
    # selected by the lowest calibrated out-of-fold log loss, on the same folds for every candidate
    losses = {k: c["validation"]["log_loss"] for k, c in m["candidates"].items()}
    assert m["model"] == min(losses, key=losses.get)
    assert all(c["validation"]["n"] == m["validation"]["n"] for c in m["candidates"].values())
    assert m["calibration"]["method"] in ("isotonic", "sigmoid")
    assert m["calibration"]["ece_after"] == m["ece"] and np.isfinite(m["calibration"]["ece_before"])
    assert set(m["segments"]["gender"]) == {"F", "M"} and set(m["segments"]["level"]) <= {"free", "paid"}
    assert 0 < m["fraction_of_best_auroc"] < 1.5
    # the fake log's churn depends on behaviour: a model must beat chance on unseen users
    assert m["auroc"] > 0.5 and m["best_possible"]["auroc"] > 0.55
    meta = art.metadata
    assert meta["horizon_days"] == 10 and meta["cutoffs"] == sorted(meta["cutoffs"])
    assert all((c + 1) % DAY_MS == 0 for c in meta["cutoffs"])
    assert art.epoch_ms % DAY_MS == 0
    card = (art.path / "model_card.md").read_text()
    assert card.splitlines()[0] == f"# Churn-risk model {art.version}"  # written in the folder before the rename
    for text in ("whole-history baseline", "Top drivers", "Per segment", "gender = F", "noise at 95%", "ECE"):
        assert text in card, text
    assert abs(sum(art.global_importance.values())) > 0
    # the drift reference: every model feature (training snapshots) and the predicted risk (test snapshots)
    ref = art.reference
    assert ref is not None and (art.path / "reference.json").exists()
    assert set(ref.features) == set(art.feature_names)
    assert sum(ref.prediction.shares) == pytest.approx(1.0) and 0 <= ref.prediction.edges[0] <= ref.prediction.edges[-1] <= 1
    assert all(sum(d.shares) == pytest.approx(1.0) for d in ref.features.values())
    assert len(ref.prediction.edges) > 1  # a calibrated risk with some spread, not one value


def test_default_model_has_no_gender_feature(trained):
    from training.pipeline import PROTECTED_FEATURES, feature_list

    assert "gender_male" in FEATURE_NAMES and "gender_male" in PROTECTED_FEATURES
    assert "gender_male" not in trained.feature_names and "gender_male" not in trained.global_importance
    assert trained.feature_names == feature_list(with_gender=False)
    assert trained.metadata["protected_features_excluded"] == ["gender_male"]
    assert "gender_male" in feature_list(with_gender=True)  # the training option brings it back


def test_point_in_time_rows_follow_the_rules(spark, fake_log):
    from training import dataset

    partials = dataset.load_partials(spark, [str(fake_log)])
    summary = dataset.summarize(partials)
    days = dataset.cutoff_days(summary, 4, 10, 5)
    pit = dataset.point_in_time(spark, partials, summary.epoch_ms, days, 10)
    raw = pit.raw
    assert (raw["last_ts"] <= raw["cutoff_ms"]).all()  # features from events at or before the cutoff
    assert raw["churn_ts"].isna().all()  # churned users are gone
    pos = raw[raw["label"] == 1]
    assert ((pos["future_churn_ts"] > pos["cutoff_ms"]) & (pos["future_churn_ts"] <= pos["cutoff_ms"] + 10 * DAY_MS)).all()
    neg = raw[(raw["label"] == 0) & raw["future_churn_ts"].notna()]
    assert (neg["future_churn_ts"] > neg["cutoff_ms"] + 10 * DAY_MS).all()
    assert not raw.duplicated(["userId", "cutoff_ms"]).any()
    assert np.isfinite(pit.X.to_numpy()).all()
    # one cutoff's merged partials equal the direct aggregate of the events up to it
    from contracts.features import RAW_COLUMNS
    from tests.support.features import batch_raw_aggregates

    c = dataset.cutoff_ms(days[1])
    direct = batch_raw_aggregates(dataset.load_events(spark, [str(fake_log)]), c, summary.epoch_ms).toPandas().set_index("userId")
    merged = raw[raw["cutoff_ms"] == c].set_index("userId")
    direct = direct[direct["churn_ts"].isna()].loc[merged.index]
    for col in ("n_events", "n_nextsong", "first_ts", "last_ts", "session_starts"):
        assert (direct[col].astype("int64") == merged[col].astype("int64")).all(), col
    np.testing.assert_allclose(direct["dk7_songs"], merged["dk7_songs"], rtol=1e-9)
    assert list(direct["level"]) == list(merged["level"])


def test_cli_rejects_bad_input_in_one_line(tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "training", *args], capture_output=True, text=True, timeout=120)

    r = cli("--data", str(tmp_path / "missing.json"))
    assert r.returncode == 2 and r.stderr.strip().startswith("error: no such log file") and "Traceback" not in r.stderr
    log = tmp_path / "x.json"
    log.write_text("{}\n")
    r = cli("--data", str(log), "--models", "xgboost")
    assert r.returncode == 2 and "unknown model" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = cli("--data", str(log), "--horizon-days", "0")
    assert r.returncode == 2 and "--horizon-days" in r.stderr
    r = cli("--data", str(log), "--threshold-rule", "precision:2")
    assert r.returncode == 2 and "threshold rule" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert cli("--help").returncode == 0
