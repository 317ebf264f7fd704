"""Run the simulation in user shards across processes, then merge the shards by event time.

Each shard (``chunk_users`` consecutive user indices) is simulated, sorted by ts in memory (stable, so
ties keep a user's own order) and written to a temporary file; a k-way ``heapq.merge`` over the shard
files yields the global ts order. Memory is bounded by one shard per worker plus one line per shard.
Shards are merged in shard order and ties resolve to the lower shard, so output is byte-identical
whatever the number of workers.
"""
from __future__ import annotations

import heapq
import math
import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from contracts.truth import UserTruth
from producer.simulator.clock import OffDays
from producer.simulator.config import SimConfig
from producer.simulator.user import simulate_user


@dataclass(frozen=True)
class ShardResult:
    path: str
    events: int
    truths: list[UserTruth]


def growth_arrivals(config: SimConfig) -> list[int]:
    """Arrival times (epoch s) of new users: a Poisson process at the compound growth rate."""
    if config.growth <= 0 or config.users <= 0:
        return []
    rng = np.random.default_rng([config.seed, 2**31 - 1])
    rate_per_s = config.users * math.log1p(config.growth) / (365.0 * 86_400)
    out, t = [], float(config.start_s)
    while True:
        t += rng.exponential(1.0 / rate_per_s)
        if t >= config.end_s:
            return out
        out.append(int(t))


def _run_shard(config: SimConfig, indices: range, arrivals: list[int], folder: str) -> ShardResult:
    off = OffDays(config.start_s, config.days)
    ts: list[int] = []
    lines: list[str] = []
    truths: list[UserTruth] = []
    for i in indices:
        arrival = None if i < config.users else arrivals[i - config.users]
        truth = simulate_user(i, arrival, config.seed, config.cohorts, config.paid_weight,
                              config.start_s, config.end_s, off, ts, lines)
        if truth is not None:
            truths.append(truth)
    order = np.argsort(np.asarray(ts, dtype=np.int64), kind="stable")
    path = os.path.join(folder, f"shard-{indices.start:09d}.jsonl")
    with open(path, "wb", buffering=1 << 20) as fh:
        step = 200_000
        for k in range(0, len(order), step):
            fh.write("".join([lines[j] for j in order[k:k + step].tolist()]).encode("utf-8"))
    return ShardResult(path, len(lines), truths)


def run_shards(config: SimConfig, folder: str | Path) -> list[ShardResult]:
    """Simulate every user into ts-sorted shard files in ``folder`` (in parallel if workers > 1)."""
    arrivals = growth_arrivals(config)
    total = config.users + len(arrivals)
    size = max(1, config.chunk_users)
    shards = [range(a, min(a + size, total)) for a in range(0, total, size)]
    if config.workers <= 1 or len(shards) == 1:
        return [_run_shard(config, r, arrivals, str(folder)) for r in shards]
    with ProcessPoolExecutor(max_workers=config.workers) as pool:
        futures = [pool.submit(_run_shard, config, r, arrivals, str(folder)) for r in shards]
        return [f.result() for f in futures]


def _ts_key(line: bytes) -> bytes:
    return line[6:19]  # '{"ts":' then 13 digits (all times between 2001 and 2286)


def merged_lines(results: list[ShardResult]) -> Iterator[bytes]:
    """All shard lines (with newline) in global ts order."""
    files = [open(r.path, "rb", buffering=1 << 20) for r in results]
    try:
        yield from heapq.merge(*files, key=_ts_key)
    finally:
        for fh in files:
            fh.close()


class ShardFolder:
    """A temporary folder for shard files, next to the output (same disk) or in the system temp."""

    def __init__(self, near: str | Path | None = None):
        parent = None if near is None else str(Path(near).resolve().parent)
        self.path = tempfile.mkdtemp(prefix=".sim-shards-", dir=parent)

    def __enter__(self) -> str:
        return self.path

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
