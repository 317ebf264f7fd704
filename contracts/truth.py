"""The simulator's latent truth per user, written beside a simulated log.

The simulator knows what no model can see: each user's cohort, rates and cancellation hazard. Training
reads this file to compute the best possible forecast of "cancels within H days", the ceiling a model is
measured against. File: ``<log name>.truth.jsonl`` (one JSON object per user), beside the log.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator


@dataclass
class UserTruth:
    userId: str
    cohort: str
    alpha_s: float  # mean seconds between non-song events
    beta_s: float  # mean seconds between sessions (before the fixed session gap)
    registration: int  # epoch ms
    #: [[ts_ms, level], ...]: the level from each ts on (first entry = level at registration or start)
    level_history: list[list] = field(default_factory=list)
    cancel_ts: int | None = None  # epoch ms of Cancellation Confirmation, None if never
    #: expected cancellations per day while active, by level: P(cancel | a session) x sessions per day
    daily_hazard: dict[str, float] = field(default_factory=dict)


def truth_path(log_path: str | Path) -> Path:
    p = Path(log_path)
    name = p.name
    for suffix in (".gz", ".json", ".jsonl"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return p.with_name(name + ".truth.jsonl")


def write_truth(path: str | Path, users: Iterable[UserTruth]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for u in users:
            fh.write(json.dumps(asdict(u), separators=(",", ":")) + "\n")


def read_truth(path: str | Path) -> Iterator[UserTruth]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield UserTruth(**json.loads(line))
