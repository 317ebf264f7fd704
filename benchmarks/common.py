"""Pieces the benchmark scripts share: local services in a temp folder, simulated logs, timing helpers."""
from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

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


def emit(result: dict) -> None:
    """The last line of every benchmark: one JSON object."""
    print(json.dumps(result, sort_keys=True))
