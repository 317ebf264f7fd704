"""``python -m streaming monitor``: the monitoring state read back from a real Redis, seeded through the records'
``to_hash()`` as the streaming job writes it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from contracts.redis_keys import Cohort, Drift, ModelInfo, RealizedMetrics, RedisKeys, StreamHealth
from devstack.services import free_port
from streaming.monitor import read_state, render_text

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "mon"
DAY_MS = 86_400_000
#: 2018-11-01 00:00 UTC
T0 = 1_541_030_400_000
TOP_KEYS = ["clock_ms", "max_score_age_hours", "active_users", "model_version", "offline", "cohorts", "realized",
            "drift"]
COHORT_KEYS = ["as_of_ms", "day", "users", "positives", "auroc", "average_precision", "brier", "top_decile_lift",
               "precision", "recall", "calibration"]
BINS = [[0.05, 0.04, 120.0], [0.15, 0.18, 60.0], [0.6, 0.55, 20.0]]


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streaming", "monitor", *args], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "SPARKIFY_REDIS_PREFIX": PREFIX, **env}, timeout=60)


def _cohort(i: int, resolved: bool) -> Cohort:
    if not resolved:
        return Cohort(as_of_ms=T0 + i * DAY_MS, users=200 + i, resolved=False)
    return Cohort(as_of_ms=T0 + i * DAY_MS, users=200 + i, positives=10 + i, resolved=True, auroc=0.8 - i / 100,
                  average_precision=0.3, brier=0.07, top_decile_lift=3.5, precision=0.4, recall=0.5,
                  calibration=BINS)


def seed_state(client, keys: RedisKeys) -> None:
    client.hset(keys.health, mapping=StreamHealth(clock_ms=T0 + 40 * DAY_MS, max_score_age_ms=3 * 3_600_000,
                                                  active_users=180).to_hash())
    metrics = {"auroc": 0.83, "average_precision": 0.35, "brier": 0.066, "top_decile_lift": 3.9, "f1": 0.4,
               "candidates": {"gbm": {"auroc": 0.1}}}
    client.hset(keys.model, mapping=ModelInfo("v7", 0.3, metrics, ["songs_per_day"], {}, "", "10", 1).to_hash())
    # written newest first: the read must come back oldest first all the same
    for i, resolved in ((3, False), (2, True), (0, True), (1, True)):
        c = _cohort(i, resolved)
        client.hset(keys.cohort(c.as_of_ms), mapping=c.to_hash())
        client.zadd(keys.cohorts, {str(c.as_of_ms): c.as_of_ms})
    realized = RealizedMetrics(users=603, positives=33, auroc=0.79, average_precision=0.31, brier=0.071,
                               top_decile_lift=3.4, expected_calibration_error=0.02, cohorts=3, calibration=BINS)
    client.hset(keys.realized, mapping=realized.to_hash())
    client.hset(keys.drift, mapping=Drift(as_of_ms=T0 + 40 * DAY_MS, prediction_psi=0.05,
                                          feature_psi={"songs_per_day": 0.31, "tenure_days": 0.02},
                                          alerts=["songs_per_day"], threshold=0.2, users=180).to_hash())


@pytest.mark.integration
def test_json_has_exactly_the_keys_and_the_resolved_cohorts_oldest_first(redis_server, redis_client):
    seed_state(redis_client, RedisKeys(PREFIX))
    out = run("--json", SPARKIFY_REDIS_URL=redis_server.url)
    assert out.returncode == 0, out.stderr
    state = json.loads(out.stdout)
    assert list(state) == TOP_KEYS
    assert state["clock_ms"] == T0 + 40 * DAY_MS and state["max_score_age_hours"] == 3.0
    assert state["active_users"] == 180 and state["model_version"] == "v7"
    assert state["offline"] == {"auroc": 0.83, "average_precision": 0.35, "brier": 0.066, "top_decile_lift": 3.9}
    cohorts = state["cohorts"]
    assert [c["as_of_ms"] for c in cohorts] == [T0, T0 + DAY_MS, T0 + 2 * DAY_MS]  # resolved only, oldest first
    assert [list(c) for c in cohorts] == [COHORT_KEYS] * 3
    assert [c["day"] for c in cohorts] == ["2018-11-01", "2018-11-02", "2018-11-03"]
    assert cohorts[1]["users"] == 201 and cohorts[1]["positives"] == 11 and cohorts[1]["auroc"] == 0.79
    assert cohorts[0]["calibration"] == BINS
    assert state["realized"] == {"users": 603, "positives": 33, "auroc": 0.79, "average_precision": 0.31,
                                 "brier": 0.071, "top_decile_lift": 3.4, "expected_calibration_error": 0.02}
    assert state["drift"] == {"prediction_psi": 0.05, "feature_psi": {"songs_per_day": 0.31, "tenure_days": 0.02},
                              "alerts": ["songs_per_day"]}


@pytest.mark.integration
def test_text_names_the_figures_and_the_alert(redis_server, redis_client):
    seed_state(redis_client, RedisKeys(PREFIX))
    out = run(SPARKIFY_REDIS_URL=redis_server.url)
    assert out.returncode == 0, out.stderr
    assert "3 resolved cohorts, 603 user-scores, 33 cancelled" in out.stdout
    assert "AUROC" in out.stdout and "0.790   offline 0.830" in out.stdout
    assert "2018-11-03" in out.stdout and "2018-11-04" not in out.stdout  # the unresolved cohort is not listed
    assert "songs_per_day                0.310  ALERT" in out.stdout


@pytest.mark.integration
def test_nothing_scored_yet_is_a_valid_object_of_nulls_and_empty_lists(redis_server, redis_client):
    out = run("--json", SPARKIFY_REDIS_URL=redis_server.url)
    assert out.returncode == 0, out.stderr
    state = json.loads(out.stdout)
    assert list(state) == TOP_KEYS
    assert state["cohorts"] == [] and state["drift"] == {"prediction_psi": None, "feature_psi": {}, "alerts": []}
    assert all(state[k] is None for k in ("clock_ms", "max_score_age_hours", "active_users", "model_version"))
    assert set(state["offline"].values()) == {None} and set(state["realized"].values()) == {None}
    text = run(SPARKIFY_REDIS_URL=redis_server.url)
    assert text.returncode == 0 and "no resolved cohorts yet (labels arrive H days after a refresh)" in text.stdout


@pytest.mark.integration
def test_non_finite_figures_read_as_null(redis_server, redis_client):
    keys = RedisKeys(PREFIX)
    c = Cohort(as_of_ms=T0, users=5, positives=0, resolved=True, auroc=float("nan"), brier=0.01,
               calibration=[[0.1, float("nan"), 5.0]])
    redis_client.hset(keys.cohort(T0), mapping=c.to_hash())
    redis_client.zadd(keys.cohorts, {str(T0): T0})
    state = read_state(redis_client, keys)
    json.dumps(state, allow_nan=False)  # raises on NaN
    assert state["cohorts"][0]["auroc"] is None and state["cohorts"][0]["calibration"] == [[0.1, None, 5.0]]
    assert "no drift computed yet" in render_text(state, "10")


def test_unreachable_redis_is_one_line_exit_2():
    out = run("--json", SPARKIFY_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    assert out.returncode == 2 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and "cannot read Redis" in out.stderr
    assert "Traceback" not in out.stderr


def test_bad_argument_is_one_line_exit_2():
    out = run("--jsn")
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_the_monitor_does_not_load_spark():
    code = "import sys, streaming.cli, streaming.monitor; print('pyspark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
