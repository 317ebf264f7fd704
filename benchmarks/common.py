"""Pieces the benchmark scripts share: local services in a temp folder, simulated logs, timing helpers."""
from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterator, MutableMapping, MutableSequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)

from devstack.services import KafkaBroker, RedisServer, free_port  # noqa: E402


@contextlib.contextmanager
def local_services(kafka: bool = True, redis: bool = True) -> Iterator[tuple[KafkaBroker | None, RedisServer | None]]:
    with tempfile.TemporaryDirectory(prefix="sparkify-bench-") as tmp:
        broker = KafkaBroker("kafka", free_port(), Path(tmp) / "kafka").start() if kafka else None
        server = RedisServer("redis", free_port(), Path(tmp) / "redis").start() if redis else None
        try:
            yield broker, server
        finally:
            for svc in (broker, server):
                if svc:
                    svc.stop()


def simulated_log(users: int, days: int, seed: int = 1, folder: Path = ROOT / "data" / "bench") -> Path:
    """A simulated log, generated once and reused by later runs."""
    path = folder / f"sim_u{users}_d{days}_s{seed}.json"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "producer", "generate", "--users", str(users), "--days", str(days),
                        "--seed", str(seed), "--out", str(path)], check=True, cwd=ROOT)
    return path


def active_users_raw(spark: Any, log: Path, users: int, days_in: int = 30) -> tuple[Any, int, int]:
    """Raw aggregates of the users still active ``days_in`` days into ``log`` (as the stream holds them), copied
    under new ids up to ``users`` rows; with the log's epoch (its first midnight) and that cutoff."""
    import numpy as np
    import pandas as pd

    from contracts.features import DAY_MS
    from tests.support.features import batch_raw_aggregates
    from training.dataset import load_events

    events = load_events(spark, [str(log)])
    first = events.agg({"ts": "min"}).first()[0]
    epoch = first - first % DAY_MS
    cutoff = epoch + days_in * DAY_MS
    raw = batch_raw_aggregates(events, cutoff, epoch).toPandas()
    raw = raw[raw["churn_ts"].isna()].reset_index(drop=True)
    copies = [raw.assign(userId=raw["userId"].astype(str) + f"-{i}") for i in range(int(np.ceil(users / len(raw))))]
    return pd.concat(copies, ignore_index=True).head(users), epoch, cutoff


def count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for line in fh if line.strip())


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, int(round(q / 100 * (len(ordered) - 1)))))
    return float(ordered[k])


def poll_latency(client: Any, prefix: str, pending: MutableMapping[str, MutableSequence[tuple[int, float]]],
                 lock: threading.Lock, out: list[tuple[float, float]], stop: threading.Event,
                 interval: float = 0.2) -> None:
    """Until ``stop`` is set, turn sent events into latencies as the job scores them.

    ``pending`` maps a user to its events not yet seen in Redis, oldest first, each as (the user's cumulative
    count of events including this one, send time in epoch seconds); the sender appends to it under ``lock``.
    An event is scored once the user hash's ``n_events`` reaches its count; its latency is the hash's
    ``scored_at`` (epoch ms) minus its send time, appended to ``out`` as (send time, latency in seconds).
    """
    user_key = f"{prefix}:user:"
    while not stop.is_set():
        with lock:
            users = [u for u, queue in pending.items() if queue]
        if users:
            pipe = client.pipeline(transaction=False)
            for u in users:
                pipe.hmget(user_key + u, "n_events", "scored_at")
            for u, (n, scored_at) in zip(users, pipe.execute()):
                if n is None or scored_at is None:
                    continue
                with lock:
                    queue = pending[u]
                    while queue and queue[0][0] <= int(n):
                        t_send = queue[0][1]
                        del queue[0]  # O(1) on a deque, the soak's choice for long runs
                        out.append((t_send, int(scored_at) / 1000 - t_send))
        time.sleep(interval)


def emit(result: dict) -> None:
    """The last line of every benchmark: one JSON object."""
    print(json.dumps(result, sort_keys=True))
