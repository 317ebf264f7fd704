"""End to end: a tiny log through the training pipeline to a complete, loadable artifact."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from contracts.artifact import METRIC_KEYS, latest_version, load_artifact
from contracts.features import DAY_MS, FEATURE_NAMES

pytestmark = pytest.mark.integration


@pytest.mark.slow
def test_training_writes_a_complete_artifact(trained):
    art = load_artifact(trained.path.parent)
    assert art.version == trained.version == latest_version(trained.path.parent)
    files = {p.name for p in art.path.iterdir()}
    assert {"model.joblib", "metadata.json", "metrics.json", "model_card.md", "roc.png", "pr.png", "confusion.png",
            "calibration.png", "shap_beeswarm.png", "shap_importance.png"} <= files
    m = art.metrics
    for block in (m, m["backtest"], m["whole_history_baseline"], m["best_possible"]):
        assert set(METRIC_KEYS) <= set(block)
    assert set(m["candidates"]) == {"sklearn_logistic_regression", "sklearn_hist_gradient_boosting"}
    assert 0 < m["fraction_of_best_auroc"] < 1.5
    # the fake log's churn depends on behaviour: a model must beat chance on unseen users
    assert m["auroc"] > 0.5 and m["best_possible"]["auroc"] > 0.55
    meta = art.metadata
    assert meta["horizon_days"] == 10 and meta["cutoffs"] == sorted(meta["cutoffs"])
    assert all((c + 1) % DAY_MS == 0 for c in meta["cutoffs"])
    assert art.epoch_ms % DAY_MS == 0 and art.feature_names == FEATURE_NAMES
    card = (art.path / "model_card.md").read_text()
    assert art.version in card and "whole-history baseline" in card and "Top drivers" in card
    assert abs(sum(art.global_importance.values())) > 0


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
    assert cli("--help").returncode == 0
