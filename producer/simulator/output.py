"""Write a simulated log (plain or gzip, deterministic bytes) and its truth file."""
from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from contracts.truth import truth_path, write_truth
from producer.simulator.config import SimConfig
from producer.simulator.engine import ShardFolder, merge_to_file, merged_lines, run_shards, worker_pool


@dataclass(frozen=True)
class GenerateResult:
    path: Path
    truth_path: Path
    events: int
    users: int  # registered users that appear in the log
    churned: int


def _write_gz(path: Path, lines: Iterable[bytes]) -> None:
    with open(path, "wb", buffering=1 << 20) as raw:
        # mtime=0 and no file name in the header: same seed => same bytes
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as fh:
            fh.writelines(lines)


def generate(config: SimConfig, out: str | Path) -> GenerateResult:
    """Simulate ``config`` into the JSON-lines file ``out`` (``.gz`` => gzip) plus its truth file.

    Writes to ``<out>.part`` and renames at the end, so a crash never leaves a half log under the name.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    pool = worker_pool(config)
    try:
        with ShardFolder(near=out) as folder:
            results = run_shards(config, folder, pool)
            if out.name.endswith(".gz"):
                _write_gz(part, merged_lines(results))
            else:
                merge_to_file(results, part, pool)
    finally:
        if pool is not None:
            pool.shutdown()
    truths = [t for r in results for t in r.truths]
    tpath = truth_path(out)
    write_truth(tpath, truths)
    os.replace(part, out)
    return GenerateResult(out, tpath, sum(r.events for r in results), len(truths),
                          sum(1 for t in truths if t.cancel_ts is not None))
