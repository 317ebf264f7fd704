"""Everything one refresh of the page reads, in one function the page, the tests and the benchmark share.

The aggregates (``data.snapshot``, without its own table), the target list and its count
(``targets``), the catch rate (``catch``), the bounded population sample (``population``) and the monitoring
state (``monitoring``); the
drill-down's ``data.user_detail`` is read by the page for whichever user is open.
"""
from __future__ import annotations

from dataclasses import dataclass

from contracts.redis_keys import RedisKeys

from dashboard import data
from dashboard.catch import CatchRate, catch_rate
from dashboard.monitoring import Monitoring, read_monitoring
from dashboard.population import SAMPLE_SIZE, Sample, population_sample
from dashboard.targets import Target, TargetFilter, TargetReader, Targets


@dataclass(frozen=True)
class Refresh:
    snap: data.Snapshot
    targets: Targets
    catch: CatchRate
    sample: Sample
    #: the user the search box named (active or cancelled), when it names one
    found: Target | None
    #: outcome tracking and drift (the monitoring panels)
    monitoring: Monitoring

    @property
    def threshold(self) -> float:
        return self.snap.headline.threshold


def read_refresh(client, keys: RedisKeys, filt: TargetFilter, limit: int = 25, search: str = "",
                 sample_size: int = SAMPLE_SIZE) -> Refresh:
    snap = data.snapshot(client, keys, data.Filters(limit=0))
    threshold = snap.headline.threshold
    targets = TargetReader(client, keys).find(filt, threshold, limit)
    found_row = data.find_user(client, keys, search) if search.strip() else None
    found = Target(found_row, None, None, None) if found_row is not None else None
    return Refresh(snap=snap, targets=targets, catch=catch_rate(client, keys),
                   sample=population_sample(client, keys, sample_size), found=found,
                   monitoring=read_monitoring(client, keys))
