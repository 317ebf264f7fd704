"""A short soak (benchmarks/soak.py for ~2 minutes at 2,000 events/s): memory and Redis stay bounded.

The full 30-minute soak is a benchmark (`python benchmarks/soak.py`); this test runs its code briefly and
asserts bounds that a leak (per-event keys, an unbounded stream, growing Python state) would break.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.reliability.common import ROOT

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(900)]
MB = 1.0


def test_short_soak_has_bounded_growth():
    env = {**os.environ, "SPARKIFY_SPARK_DRIVER_MEMORY": "1g"}
    run = subprocess.run([sys.executable, "benchmarks/soak.py", "--minutes", "2.5", "--rate", "2000", "--users", "300",
                          "--days", "14", "--seed", "3", "--sample-seconds", "5", "--warmup-seconds", "45",
                          "--window-minutes", "1"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=840)
    assert run.returncode == 0, run.stderr[-2000:]
    print(run.stdout)
    r = json.loads(run.stdout.strip().splitlines()[-1])
    users = r["users"][1]
    assert 0 < users <= r["users_in_log"]
    assert r["events_in"] > 100_000  # the job really ingested the stream
    # Redis: one hash per user plus a fixed handful of keys; memory per user bounded (alert stream is capped)
    assert r["dbsize"][1] <= users + 10
    assert r["redis_used_memory_mb"][1] * 2**20 / users < 64 * 1024
    # processes: no steady growth beyond allocator/JIT warm-up
    start, end = r["rss_start_mb"], r["rss_end_mb"]
    assert end["producer"] - start["producer"] < 150 * MB
    assert end["streaming_python"] - start["streaming_python"] < 400 * MB
    assert end["streaming_jvm"] < 2500 * MB  # a 1 GB driver heap plus off-heap: bounded whatever the load
    assert end["redis"] - start["redis"] < 100 * MB
