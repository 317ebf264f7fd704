"""The monitor's writer side on a real Redis: a resolved cohort whose realized AUROC falls below the model's
offline test AUROC by more than the setting adds one entry to the alert feed; one at the offline level adds none.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from contracts.redis_keys import ALERT_KIND_REALIZED, AlertEntry, Cohort, RedisKeys
from streaming.monitoring import Monitor
from streaming.refresh import Refreshed

pytestmark = pytest.mark.integration
DAY_MS = 86_400_000
RISK = np.linspace(0.01, 0.9, 200)  # ascending: the last user has the highest risk


def _cohort(monitor: Monitor, as_of: int, name: str) -> np.ndarray:
    users = np.array([f"{name}{i:03d}" for i in range(len(RISK))])
    assert monitor.keep_cohort(Refreshed(as_of, users, RISK, pd.DataFrame(), shap_users=0))
    return users


def test_a_cohort_below_the_offline_auroc_raises_one_alert_and_a_good_one_none(redis_server):
    client = redis_server.client()
    keys = RedisKeys("monitor-alerts")
    for key in client.scan_iter(f"{keys.prefix}:*"):
        client.delete(key)
    monitor = Monitor(client, keys, kept=60, auroc_drop=0.05, psi_threshold=0.2, alert_maxlen=1_000)
    # the model's card: offline test AUROC 0.75, horizon 7 days
    artifact = SimpleNamespace(horizon_days=7, threshold=0.5, metrics={"auroc": 0.75})
    bad, good = 1_000 * DAY_MS, 1_001 * DAY_MS
    first, second = _cohort(monitor, bad, "a"), _cohort(monitor, good, "b")
    # within the first cohort's window its 40 lowest risks cancel (AUROC 0); within the second's, its 40 highest
    # (AUROC 1); a cancellation after the window is no positive
    client.zadd(keys.churned, {u: bad + DAY_MS for u in first[:40]})
    client.zadd(keys.churned, {u: good + 7 * DAY_MS for u in second[-40:]})
    client.zadd(keys.churned, {u: good + 7 * DAY_MS + 1 for u in second[:40]})

    done = monitor.resolve(good + 8 * DAY_MS, artifact)

    by_as_of = {c.as_of_ms: c for c in done}
    assert set(by_as_of) == {bad, good}
    assert by_as_of[bad].auroc == pytest.approx(0.0) and by_as_of[good].auroc == pytest.approx(1.0)
    alerts = [AlertEntry.from_hash(f) for _, f in client.xrange(keys.alerts)]
    assert [(a.kind, a.subject) for a in alerts] == [(ALERT_KIND_REALIZED, str(bad))]
    assert alerts[0].threshold == pytest.approx(0.70) and alerts[0].value == pytest.approx(0.0)
    # resolving again (a replayed batch) adds nothing
    assert monitor.resolve(good + 8 * DAY_MS, artifact) == []
    assert client.xlen(keys.alerts) == 1
    assert Cohort.from_hash(client.hgetall(keys.cohort(bad))).resolved
