"""`make demo` end to end, shortened by settings: scored users appear, the dashboard answers, Ctrl-C leaves
no process behind."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
import redis

from contracts.artifact import quick_artifact
from contracts.features import model_features
from tests.support.features import batch_raw_aggregates
from contracts.redis_keys import RedisKeys
from dashboard.data import snapshot, user_detail
from devstack.services import free_port
from tests.streaming.helpers import simulate_log

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
DAY_MS = 86_400_000


def _model_for(spark, log: Path, model_dir: Path) -> None:
    """A small model, so the demo skips training (training has its own tests)."""
    from training.dataset import load_events

    events = load_events(spark, [str(log)])
    first = events.agg({"ts": "min"}).first()[0]
    epoch = first - first % DAY_MS
    cutoff = epoch + 10 * DAY_MS
    raw = batch_raw_aggregates(events, cutoff, epoch).toPandas()
    quick_artifact(model_dir, model_features(raw, cutoff, epoch), raw["churn_ts"].notna().to_numpy(), epoch_ms=epoch)


def test_demo_scores_users_and_stops_cleanly(spark, tmp_path):
    users, days, seed = 130, 20, 3
    data_dir, model_dir = tmp_path / "data", tmp_path / "models"
    log = simulate_log(data_dir / "demo" / "sparkify_demo.json", users=users, days=days, seed=seed)
    _model_for(spark, log, model_dir)
    redis_port, dash_port = free_port(), free_port()
    env = {**os.environ, "SPARKIFY_LOCAL_KAFKA_PORT": str(free_port()), "SPARKIFY_LOCAL_REDIS_PORT": str(redis_port),
           "SPARKIFY_LOCAL_STATE_DIR": str(tmp_path / ".local"), "SPARKIFY_DATA_DIR": str(data_dir),
           "SPARKIFY_MODEL_DIR": str(model_dir), "SPARKIFY_CHECKPOINT_DIR": str(tmp_path / "ckpt"),
           "SPARKIFY_DASHBOARD_PORT": str(dash_port), "SPARKIFY_DEMO_USERS": str(users),
           "SPARKIFY_DEMO_DAYS": str(days), "SPARKIFY_DEMO_SEED": str(seed), "SPARKIFY_REPLAY_SPEED": "200000",
           "SPARKIFY_SPARK_DRIVER_MEMORY": "2g"}
    demo = subprocess.Popen([sys.executable, "-m", "devstack", "demo"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    started = time.monotonic()
    family: set[int] = set()
    try:
        client = redis.Redis(port=redis_port, decode_responses=True)
        scored = 0
        while time.monotonic() - started < 600:
            assert demo.poll() is None, demo.stdout.read().decode(errors="replace")[-2000:]
            family |= {p.pid for p in psutil.Process(demo.pid).children(recursive=True)}
            try:
                scored = client.zcard("sparkify:risk") + client.zcard("sparkify:churned")
            except redis.ConnectionError:
                scored = 0
            if scored >= 100:
                break
            time.sleep(2)
        assert scored >= 100, "fewer than 100 scored users within 10 minutes"
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{dash_port}/", timeout=5) as resp:
                    assert resp.status == 200
                break
            except OSError:
                assert time.monotonic() < deadline, "dashboard did not answer"
                time.sleep(2)
        snap = snapshot(client, RedisKeys())
        assert snap.headline.active_users > 0 and snap.top, "the dashboard's data layer reads no active user"
        detail = user_detail(client, RedisKeys(), snap.top[0].user_id)
        assert detail is not None and detail.features and detail.shap and detail.row.drivers
        assert detail.as_of is not None and detail.n_events
        family |= {p.pid for p in psutil.Process(demo.pid).children(recursive=True)}
    finally:
        os.kill(demo.pid, signal.SIGINT)
        out, _ = demo.communicate(timeout=180)
    assert demo.returncode == 0, out.decode(errors="replace")[-2000:]
    assert b"[demo] stopped" in out
    warnings = [ln for ln in out.decode(errors="replace").splitlines() if " WARN " in ln or "WARNING" in ln]
    assert not warnings, f"the demo's terminal shows Spark's warnings: {warnings[:3]}"
    time.sleep(1)
    left = [pid for pid in family if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert not left, f"processes left behind: {left}"
    assert len(family) >= 5  # redis, kafka, streaming (+ its JVM), replay, dashboard
