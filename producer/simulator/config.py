"""The simulator's configuration (one frozen dataclass shared by the CLI, the API and the workers)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from producer.simulator.cohorts import DEFAULT_MIX

DEFAULT_GROWTH = 0.2  # compound annual growth of the user base (new users arrive as Guests)
DEFAULT_PAID_WEIGHT = 6.0  # initial level weights free 10 : paid 6 (template 10 : 2; calibrated to the mini log)


@dataclass(frozen=True)
class SimConfig:
    """What to simulate. Same config (incl. seed) => same events, whatever ``workers`` is."""
    users: int = 225  # initial users (growth users come on top)
    days: int = 63
    start: dt.date = dt.date(2018, 10, 1)  # 00:00 UTC
    growth: float = DEFAULT_GROWTH
    seed: int = 0
    cohorts: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))  # name -> weight
    paid_weight: float = DEFAULT_PAID_WEIGHT  # vs free 10, for the initial users' level
    workers: int = 2  # processes simulating user shards (1 = in-process)
    chunk_users: int = 256  # users per shard (bounds memory: one shard is sorted in memory)

    @property
    def start_s(self) -> int:
        return int(dt.datetime(self.start.year, self.start.month, self.start.day,
                               tzinfo=dt.timezone.utc).timestamp())

    @property
    def end_s(self) -> int:
        return self.start_s + self.days * 86_400
