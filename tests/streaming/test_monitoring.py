"""Outcome tracking and drift in the running stream, on the real services.

A model trained (``python -m training``) on one simulated log is streamed a different log of the same generator
settings (another seed), in batches shorter than an event-time day: every active user is rescored as of one clock
at each day boundary, the cohorts resolve H days later, and the pooled realized AUROC must come close to the
model's offline test AUROC. The realized figures must equal the same metrics computed in batch from the cohort
snapshots and the log's own cancellation times. A log from a shifted population must raise a drift alert.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from contracts.artifact import load_artifact
from contracts.metrics import calibration_bins, expected_calibration_error, top_decile_lift
from contracts.redis_keys import ALERT_KIND_DRIFT, AlertEntry, Cohort, RealizedMetrics, RedisKeys
from contracts.settings import Settings
from tests.streaming.helpers import ROOT, log_lines, produce_lines, run_job

pytestmark = pytest.mark.integration
DAY_MS = 86_400_000
KEYS = RedisKeys("sparkify")
USERS, DAYS, HORIZON = 500, 45, 7


def _generate(out: Path, seed: int, *extra: str) -> Path:
    subprocess.run([sys.executable, "-m", "producer", "generate", "--users", str(USERS), "--days", str(DAYS),
                    "--seed", str(seed), "--out", str(out), *extra], check=True, cwd=ROOT, capture_output=True)
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("monitoring")
    log = _generate(folder / "train.json", seed=31)
    models = folder / "models"
    subprocess.run([sys.executable, "-m", "training", "--data", str(log), "--out", str(models), "--horizon-days",
                    str(HORIZON), "--models", "sklearn_logistic_regression", "--bootstrap", "100",
                    "--master", "local[2]"], check=True, cwd=ROOT, capture_output=True)
    return models


def _stream(spark, kafka_broker, redis_server, models: Path, log: Path, topic: str, ckpt: Path):
    lines = log_lines(log)
    produce_lines(kafka_broker.bootstrap, topic, lines, partitions=2)
    client = redis_server.client()
    client.flushdb()
    per_day = len(lines) / DAYS
    settings = Settings.from_env({}).replace(kafka_bootstrap=kafka_broker.bootstrap, topic=topic,
                                             redis_url=redis_server.url,
                                             max_offsets_per_trigger=int(per_day * 0.6))
    run_job(spark, settings, models, ckpt)
    return client


@pytest.fixture(scope="module")
def monitored(spark, kafka_broker, redis_server, trained, tmp_path_factory):
    folder = tmp_path_factory.mktemp("monitored")
    log = _generate(folder / "live.json", seed=32)
    client = _stream(spark, kafka_broker, redis_server, trained, log, "monitoring-live", folder / "ckpt")
    state = {"health": client.hgetall(KEYS.health), "realized": RealizedMetrics.from_hash(client.hgetall(KEYS.realized)),
             "cohorts": [Cohort.from_hash(client.hgetall(KEYS.cohort(a))) for a in client.zrange(KEYS.cohorts, 0, -1)],
             "scores": {int(a): client.zrange(KEYS.cohort_scores(a), 0, -1, withscores=True)
                        for a in client.zrange(KEYS.cohorts, 0, -1)},
             "users": {u: client.hgetall(KEYS.user(u)) for u in client.zrange(KEYS.ranking, 0, -1)},
             "alerts": [AlertEntry.from_hash(f) for _, f in client.xrange(KEYS.alerts)],
             "monitor": json.loads(subprocess.run([sys.executable, "-m", "streaming", "monitor", "--json",
                                                   "--redis-url", redis_server.url], check=True, cwd=ROOT,
                                                  capture_output=True, text=True).stdout)}
    return log, state


def _cancellations(log: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    with open(log) as fh:
        for line in fh:
            e = json.loads(line)
            if e.get("page") == "Cancellation Confirmation":
                out[str(e["userId"])] = int(e["ts"])
    return out


def test_every_active_user_is_scored_as_of_the_last_refresh(monitored):
    _, state = monitored
    clock = int(state["health"]["clock_ms"])
    refresh = int(state["health"]["refresh_as_of_ms"])
    assert clock - refresh <= DAY_MS
    assert int(state["health"]["max_score_age_ms"]) == clock - refresh
    ages = [clock - int(h["as_of"]) for h in state["users"].values()]
    assert state["users"] and max(ages) <= DAY_MS
    assert int(state["health"]["active_users"]) >= len(state["users"]) - 50  # users arriving after the refresh


def test_cohorts_resolve_and_realized_auroc_is_near_offline(monitored, trained):
    _, state = monitored
    resolved = [c for c in state["cohorts"] if c.resolved]
    assert len(resolved) >= 30
    assert all(c.users and c.calibration and len(c.calibration) == 10 for c in resolved)
    offline = float(load_artifact(trained).metrics["auroc"])
    realized = state["realized"]
    assert realized.cohorts == len(resolved) and realized.users == sum(c.users for c in resolved)
    assert abs(realized.auroc - offline) <= 0.07, (realized.auroc, offline)
    assert not [a for a in state["alerts"] if a.kind == ALERT_KIND_DRIFT and a.subject == "prediction"]


def _batch_figures(y: np.ndarray, p: np.ndarray, threshold: float) -> dict:
    """The realized figures recomputed here: scikit-learn's where it has them, the shared formulas otherwise."""
    flagged = p >= threshold
    return {"positives": int(y.sum()), "auroc": roc_auc_score(y, p), "average_precision": average_precision_score(y, p),
            "brier": brier_score_loss(y, p), "top_decile_lift": top_decile_lift(y, p),
            "precision": float((y[flagged] == 1).mean()) if flagged.any() else 0.0,
            "recall": float(flagged[y == 1].mean()) if y.any() else 0.0,
            "expected_calibration_error": expected_calibration_error(y, p), "calibration": calibration_bins(y, p)}


def _assert_same(record, expected: dict) -> None:
    for name, want in expected.items():
        if not hasattr(record, name):
            continue
        got = getattr(record, name)
        if name == "calibration":
            assert len(got) == len(want)
            for g, w in zip(got, want):
                assert g[2] == w[2] and all(math.isclose(a, b, abs_tol=1e-9) for a, b in zip(g[:2], w[:2])), (g, w)
        else:
            assert math.isclose(got, want, abs_tol=1e-9), (name, got, want)


def test_realized_metrics_equal_batch_from_snapshots_and_the_log(monitored, trained):
    log, state = monitored
    cancelled = _cancellations(log)
    artifact = load_artifact(trained)
    horizon = int(artifact.horizon_days * DAY_MS)
    ys, ps = [], []
    for c in state["cohorts"]:
        if not c.resolved:
            continue
        pairs = state["scores"][c.as_of_ms]
        p = np.array([s for _, s in pairs])
        y = np.array([int(u in cancelled and cancelled[u] <= c.as_of_ms + horizon) for u, _ in pairs])
        assert c.users == len(y)
        _assert_same(c, _batch_figures(y, p, float(artifact.threshold)))
        ys.append(y)
        ps.append(p)
    y, p = np.concatenate(ys), np.concatenate(ps)
    assert state["realized"].users == len(y)
    _assert_same(state["realized"], _batch_figures(y, p, float(artifact.threshold)))


def test_monitor_reports_what_the_stream_wrote(monitored, trained):
    _, state = monitored
    out = state["monitor"]
    assert out["clock_ms"] == int(state["health"]["clock_ms"])
    assert out["max_score_age_hours"] == pytest.approx(int(state["health"]["max_score_age_ms"]) / 3_600_000)
    assert len(out["cohorts"]) == len([c for c in state["cohorts"] if c.resolved])
    assert [c["as_of_ms"] for c in out["cohorts"]] == sorted(c["as_of_ms"] for c in out["cohorts"])
    assert out["realized"]["auroc"] == pytest.approx(state["realized"].auroc, abs=1e-12)
    assert out["offline"]["auroc"] == pytest.approx(float(load_artifact(trained).metrics["auroc"]))
    assert set(out["drift"]["feature_psi"]) == set(load_artifact(trained).feature_names)


def test_a_shifted_population_raises_a_drift_alert(spark, kafka_broker, redis_server, trained, tmp_path_factory):
    folder = tmp_path_factory.mktemp("shifted")
    log = _generate(folder / "shifted.json", 33, "--paid-weight", "1")
    client = _stream(spark, kafka_broker, redis_server, trained, log, "monitoring-shifted", folder / "ckpt")
    alerts = [AlertEntry.from_hash(f) for _, f in client.xrange(KEYS.alerts)]
    drifted = {a.subject for a in alerts if a.kind == ALERT_KIND_DRIFT}
    assert drifted, "no drift alert for a population with far fewer paid users"
    assert all(a.value > a.threshold for a in alerts if a.kind == ALERT_KIND_DRIFT)
