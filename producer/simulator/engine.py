"""Run the simulation in user shards across processes, then merge the shards by event time.

Each shard (``chunk_users`` consecutive user indices) is simulated, sorted by ts in memory (stable, so
ties keep a user's own order) and written to a temporary file, with the byte offset of every time bucket
(``BUCKET_S``). Two ways to merge, giving the same bytes:

* ``merged_lines``: a k-way ``heapq.merge`` over the shard files (streaming; used by ``simulate`` and for
  ``.gz`` output). Memory: one line per shard.
* ``merge_to_file``: each time bucket is gathered from every shard, sorted (stable, shards in order) and
  written with ``pwrite`` at its precomputed offset in the output; buckets are spread over the worker
  processes. Memory: one bucket per worker.

Ties resolve to the lower shard in both, so the output is byte-identical whatever the number of workers.
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


BUCKET_S = 3 * 3600  # merge granularity: about 55k events per bucket at full scale (22k users)


@dataclass(frozen=True)
class ShardResult:
    path: str
    events: int
    truths: list[UserTruth]
    #: byte offset in the shard file where each time bucket starts (len = buckets + 1)
    offsets: list[int]


def n_buckets(config: SimConfig) -> int:
    return -(-config.days * 86_400 // BUCKET_S)


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
    ts_arr = np.asarray(ts, dtype=np.int64)
    order = np.argsort(ts_arr, kind="stable")
    edges = config.start_s + BUCKET_S * np.arange(n_buckets(config) + 1)
    bounds = np.searchsorted(ts_arr[order], edges, side="left").tolist()
    bounds[-1] = len(order)
    path = os.path.join(folder, f"shard-{indices.start:09d}.jsonl")
    offsets = [0]
    with open(path, "wb", buffering=1 << 20) as fh:
        for a, b in zip(bounds[:-1], bounds[1:]):
            if b > a:
                fh.write("".join([lines[j] for j in order[a:b].tolist()]).encode("utf-8"))
            offsets.append(fh.tell())
    return ShardResult(path, len(lines), truths, offsets)


def run_shards(config: SimConfig, folder: str | Path, pool: ProcessPoolExecutor | None = None) -> list[ShardResult]:
    """Simulate every user into ts-sorted shard files in ``folder`` (in ``pool`` if given)."""
    arrivals = growth_arrivals(config)
    total = config.users + len(arrivals)
    size = max(1, config.chunk_users)
    shards = [range(a, min(a + size, total)) for a in range(0, total, size)]
    if pool is None:
        return [_run_shard(config, r, arrivals, str(folder)) for r in shards]
    futures = [pool.submit(_run_shard, config, r, arrivals, str(folder)) for r in shards]
    return [f.result() for f in futures]


def worker_pool(config: SimConfig) -> ProcessPoolExecutor | None:
    """A process pool of ``config.workers`` processes, or None to run in-process."""
    return ProcessPoolExecutor(max_workers=config.workers) if config.workers > 1 else None


def _merge_bucket(ranges: list[tuple[str, int, int]], out_path: str, out_offset: int) -> int:
    """Gather one time bucket from every shard, sort it stably by ts, write it at its offset."""
    parts = []
    for path, a, b in ranges:
        with open(path, "rb") as fh:
            fh.seek(a)
            parts.append(fh.read(b - a))
    lines = b"".join(parts).split(b"\n")
    lines.pop()  # after the last newline
    lines.sort(key=_ts_key)
    data = b"\n".join(lines) + b"\n"
    fd = os.open(out_path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, out_offset)
    finally:
        os.close(fd)
    return len(data)


def merge_to_file(results: list[ShardResult], out_path: str | Path, pool: ProcessPoolExecutor | None) -> int:
    """Merge the shards into an uncompressed file, bucket by bucket (in parallel if ``pool``)."""
    buckets = len(results[0].offsets) - 1 if results else 0
    sizes = [sum(r.offsets[k + 1] - r.offsets[k] for r in results) for k in range(buckets)]
    with open(out_path, "wb") as fh:
        fh.truncate(sum(sizes))
    tasks, offset = [], 0
    for k in range(buckets):
        if sizes[k]:
            ranges = [(r.path, r.offsets[k], r.offsets[k + 1]) for r in results if r.offsets[k + 1] > r.offsets[k]]
            tasks.append((ranges, str(out_path), offset))
        offset += sizes[k]
    if pool is None:
        return sum(_merge_bucket(*t) for t in tasks)
    return sum(f.result() for f in [pool.submit(_merge_bucket, *t) for t in tasks])


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
