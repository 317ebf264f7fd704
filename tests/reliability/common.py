"""Shared pieces of the reliability tests: a model without Spark, the job as a subprocess, Redis snapshots.

The job runs as ``python -m streaming`` in its own process group so that a test can kill -9 the whole of it
(the Python driver and its JVM) the way a crash or an OOM kill would.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from contracts.features import FEATURE_NAMES
from contracts.redis_keys import RedisKeys

ROOT = Path(__file__).resolve().parents[2]
DAY_MS = 86_400_000
#: Health fields that depend on wall time or on how often a batch ran, never on what was processed.
WALL_CLOCK_HEALTH = {"batch_id", "batch_ms", "last_batch_wall_ms", "last_batch_users", "query_started_ms",
                     "events_per_s", "input_per_s", "lag", "trigger_ms", "dead_letter_batch", "users_scored",
                     "refresh_ms"}
#: User-hash fields set from wall time.
WALL_CLOCK_USER = {"scored_at"}


def first_ts(log: Path) -> int:
    with open(log, "rb") as fh:
        return int(json.loads(fh.readline())["ts"])


def synthetic_model(model_dir: Path, epoch_ms: int, seed: int = 0) -> Path:
    """A linear model whose risk rises with ``days_since_last``, trained on synthetic features.

    Why synthetic: the reliability tests compare runs with each other, not with the batch code, so they need
    a model that scores real features with risk spread across the threshold (alerts both ways), without
    paying for a Spark session in the test process next to the job's own JVM.
    """
    from tests.support.artifacts import quick_artifact

    rng = np.random.default_rng(seed)
    n = 600
    X = pd.DataFrame({name: rng.exponential(1.0, n) for name in FEATURE_NAMES})
    X["days_since_last"] = rng.uniform(0, 8, n)
    y = (X["days_since_last"] > 2.0).to_numpy()
    quick_artifact(model_dir, X, y, epoch_ms=epoch_ms, kind="linear", threshold=0.5, horizon_days=7, reference=True)
    return model_dir


def model_for_log(log: Path, model_dir: Path) -> Path:
    """:func:`synthetic_model` with the epoch training would fix for ``log``: midnight of its first day."""
    return synthetic_model(model_dir, first_ts(log) // DAY_MS * DAY_MS)


def job_cmd(bootstrap: str, topic: str, redis_url: str, model_dir: Path, ckpt: Path, max_offsets: int,
            available_now: bool = True, extra: tuple[str, ...] = ()) -> list[str]:
    cmd = [sys.executable, "-m", "streaming", "--bootstrap", bootstrap, "--topic", topic, "--redis-url", redis_url,
           "--model-dir", str(model_dir), "--checkpoint-dir", str(ckpt), "--master", "local[2]",
           "--shuffle-partitions", "2", "--max-offsets-per-trigger", str(max_offsets), "--trigger-seconds", "0.5",
           *extra]
    return cmd + (["--available-now"] if available_now else [])


def job_env(prefix: str, **extra: str) -> dict[str, str]:
    """The job's environment: its own Redis prefix, a small driver heap (the machine is shared)."""
    env = {**os.environ, "SPARKIFY_REDIS_PREFIX": prefix, "SPARKIFY_SPARK_DRIVER_MEMORY": "1g",
           "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    env.update(extra)
    return env


#: every job start_job launched and not yet reaped by kill_leftover_jobs (tests/reliability/conftest.py calls it
#: after each test), so a test that fails or hits its timeout while a job runs leaves no job behind
STARTED: list[subprocess.Popen] = []


def start_job(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """The job in a new process group (so kill -9 reaches its JVM), output appended to ``log``."""
    with open(log, "ab") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    STARTED.append(proc)
    return proc


def kill_leftover_jobs() -> list[int]:
    """kill -9 every job started by start_job that is still running; returns their pids."""
    left = [p for p in STARTED if p.poll() is None]
    for proc in left:
        kill9(proc)
    STARTED.clear()
    return [p.pid for p in left]


def kill9(proc: subprocess.Popen) -> None:
    """SIGKILL the job's whole process group: the driver and the JVM die at the same instant."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)
    time.sleep(0.5)  # let the OS release the JVM's files before the next run opens the checkpoint


def wait_exit(proc: subprocess.Popen, timeout: float, log: Path) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill9(proc)
        raise AssertionError(f"job did not finish in {timeout:.0f} s; log tail: {_tail(log)}")


def _tail(log: Path, n: int = 1500) -> str:
    return log.read_text(errors="replace")[-n:] if log.exists() else ""


def snapshot(client: Any, prefix: str) -> dict[str, Any]:
    """Everything the job leaves in Redis that must not depend on crashes: users, ranking, churn, counts, alerts."""
    k = RedisKeys(prefix)
    users = {}
    for key in client.scan_iter(match=f"{k.user_prefix}*", count=1000):
        h = client.hgetall(key)
        users[key] = {f: v for f, v in h.items() if f not in WALL_CLOCK_USER}
    health = {f: v for f, v in client.hgetall(k.health).items() if f not in WALL_CLOCK_HEALTH}
    if "clock_batch" in health:  # <checkpoint id>:<batch id>, and each run has its own checkpoint: the batch id
        health["clock_batch"] = health["clock_batch"].rsplit(":", 1)[-1]
    alerts = [fields for _, fields in client.xrange(k.alerts)]
    dead = [fields for _, fields in client.xrange(k.dead_letters)]
    cohorts = {a: {"cohort": client.hgetall(k.cohort(a)), "scores": client.zrange(k.cohort_scores(a), 0, -1,
                                                                                    withscores=True)}
               for a in client.zrange(k.cohorts, 0, -1)}
    return {"users": users, "ranking": client.zrange(k.ranking, 0, -1, withscores=True),
            "churned": client.zrange(k.churned, 0, -1, withscores=True), "health": health,
            "alerts": alerts, "dead_letters": dead,
            "importance": {f: float(v) for f, v in client.hgetall(k.importance).items()},
            "raw": client.hgetall(k.raw), "cohorts": cohorts, "realized": client.hgetall(k.realized),
            "drift": client.hgetall(k.drift), "drift_history": [f for _, f in client.xrange(k.drift_history)]}


def batch_offsets(ckpt: Path, query: str) -> list[str]:
    """The end offsets of every batch in a checkpoint's offset log (to check batch boundaries are the same)."""
    folder = ckpt / query / "offsets"
    out = []
    for path in sorted((p for p in folder.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)):
        out.append(path.read_text().strip().splitlines()[-1])
    return out
