"""The data layer against a real Redis holding 22,000 seeded users: the right rows, counts and shapes."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from contracts.redis_keys import RedisKeys
from dashboard import data
from dashboard.seed import BASE_LOG_ODDS, SEED_FEATURES, seed

pytestmark = pytest.mark.integration


def _expected(result, limit, min_risk=0.0, levels=()):
    rows = [u for u in result.active if u.risk >= min_risk and (not levels or u.level in levels)]
    return sorted(rows, key=lambda u: -u.risk)[:limit]


def test_top_n_is_the_riskiest_active_users(big_client, big_keys, big_seed):
    snap = data.snapshot(big_client, big_keys, data.Filters(limit=50))
    expected = _expected(big_seed, 50)
    assert [r.user_id for r in snap.top] == [u.user_id for u in expected]
    assert [r.risk for r in snap.top] == pytest.approx([u.risk for u in expected])
    assert snap.scanned == 50
    assert not any(r.churned for r in snap.top)


@pytest.mark.parametrize("levels,min_risk,limit", [(("paid",), 0.3, 40), (("free",), 0.0, 200),
                                                   (("free",), 0.9, 100), (("free", "paid"), 0.5, 30)])
def test_level_and_minimum_risk_filters(big_client, big_keys, big_seed, levels, min_risk, limit):
    snap = data.snapshot(big_client, big_keys, data.Filters(limit=limit, min_risk=min_risk, levels=levels))
    expected = _expected(big_seed, limit, min_risk, levels)
    assert [r.user_id for r in snap.top] == [u.user_id for u in expected]
    assert all(r.level in levels and r.risk >= min_risk for r in snap.top)


def test_a_filter_nobody_passes_gives_an_empty_table(big_client, big_keys, big_seed):
    snap = data.snapshot(big_client, big_keys, data.Filters(limit=25, min_risk=0.9999, levels=("paid",)))
    assert snap.top == [] and snap.headline.active_users == len(big_seed.active)


def test_search_finds_active_and_churned_users_by_exact_id(big_client, big_keys, big_seed):
    active = big_seed.active[123]
    churned = next(u for u in big_seed.users if u.churned)
    row = data.find_user(big_client, big_keys, f"  {active.user_id} ")
    assert row is not None and row.user_id == active.user_id and row.risk == pytest.approx(active.risk)
    gone = data.find_user(big_client, big_keys, churned.user_id)
    assert gone is not None and gone.churned
    assert data.find_user(big_client, big_keys, "no-such-user") is None
    assert data.find_user(big_client, big_keys, "   ") is None


def test_drill_down_parses_the_whole_hash(big_client, big_keys, big_seed):
    top = _expected(big_seed, 1)[0]
    detail = data.user_detail(big_client, big_keys, top.user_id)
    assert detail is not None and detail.user_id == top.user_id
    assert detail.row.risk == pytest.approx(top.risk) and detail.row.band == "high" and detail.row.alerting
    assert set(detail.features) == {f[0] for f in SEED_FEATURES} == set(detail.shap)
    contributions = [d.contribution for d in detail.row.drivers]
    positives = [c for c in contributions if c > 0]
    assert 1 <= len(positives) <= 3 and positives == sorted(positives, reverse=True)
    assert positives[0] == pytest.approx(max(detail.shap.values()), abs=1e-6)
    if contributions[-1] < 0:
        assert contributions[-1] == pytest.approx(min(detail.shap.values()), abs=1e-6)
    assert detail.base_log_odds() == pytest.approx(BASE_LOG_ODDS, abs=1e-3)
    assert detail.n_events and detail.location and detail.row.name
    assert data.user_detail(big_client, big_keys, "no-such-user") is None


def test_headline_counts(big_client, big_keys, big_seed):
    hl = data.snapshot(big_client, big_keys).headline
    assert hl.active_users == len(big_seed.active)
    assert hl.churned == sum(u.churned for u in big_seed.users)
    assert hl.threshold == pytest.approx(0.45)
    assert hl.high_risk == sum(u.risk >= 0.45 for u in big_seed.active)


def test_histogram_matches_the_risks(big_client, big_keys, big_seed):
    snap = data.snapshot(big_client, big_keys)
    counts = [b.count for b in snap.histogram]
    expected, _ = np.histogram([u.risk for u in big_seed.active], bins=data.HISTOGRAM_BINS, range=(0, 1))
    assert counts == expected.tolist() and sum(counts) == snap.headline.active_users


def test_importance_is_the_mean_of_abs_shap(big_client, big_keys, big_seed):
    importance = data.snapshot(big_client, big_keys).importance
    assert len(importance) == len(SEED_FEATURES)
    means = [i.mean_abs_shap for i in importance]
    assert means == sorted(means, reverse=True)
    raw = big_client.hgetall(big_keys.importance)
    first = importance[0]
    assert first.mean_abs_shap == pytest.approx(float(raw[first.feature]) / len(big_seed.active))


def test_alerts_newest_first(big_client, big_keys, big_seed):
    alerts = data.snapshot(big_client, big_keys).alerts
    assert len(alerts) == data.ALERTS_SHOWN
    ids = [tuple(map(int, a.entry_id.split("-"))) for a in alerts]
    assert ids == sorted(ids, reverse=True)
    assert {a.direction for a in alerts} <= {"up", "down"} and all(a.user for a in alerts)


def test_a_refresh_uses_only_bounded_reads(big_client, big_keys, big_seed):
    """No KEYS/SCAN, and per-user reads only for the rows examined (checked in Redis' own command stats)."""
    big_client.config_resetstat()
    snap = data.snapshot(big_client, big_keys, data.Filters(limit=25, levels=("paid",), min_risk=0.2))
    data.user_detail(big_client, big_keys, snap.top[0].user_id)
    stats = {k.removeprefix("cmdstat_"): v for k, v in big_client.info("commandstats").items()}
    used = set(stats) - {"config|resetstat", "config", "info"}
    assert used <= {"zcard", "zcount", "zrevrangebyscore", "hgetall", "hmget", "xrevrange"}, used
    assert stats["hmget"]["calls"] == snap.scanned + len(snap.top)  # each ranked user's level, then the rows
    assert snap.scanned < 1000  # a page or so of the 22,000, not all of them
    assert stats["hgetall"]["calls"] == 4  # health, model, importance, one drill-down


def test_empty_redis_is_recognised(redis_client):
    snap = data.snapshot(redis_client, RedisKeys("nothing"))
    assert snap.empty and snap.model is None and snap.top == [] and snap.importance == [] and snap.alerts == []
    assert sum(b.count for b in snap.histogram) == 0 and snap.headline.threshold == data.DEFAULT_THRESHOLD


def test_malformed_values_degrade_instead_of_failing(redis_client):
    keys = RedisKeys("bad")
    seed(redis_client, keys, 20, seed=3)
    victim = redis_client.zrevrange(keys.ranking, 0, 0)[0]
    redis_client.hset(keys.user(victim), mapping={"drivers": "{not json", "last_ts": "soon", "features": "[]",
                                                   "shap": json.dumps({"a": "x", "b": 0.5})})
    redis_client.hset(keys.model, mapping={"metrics": "nope", "threshold": "high"})
    redis_client.hset(keys.health, "events_per_s", "NaN")
    snap = data.snapshot(redis_client, keys)
    row = snap.top[0]
    assert row.user_id == victim and row.drivers == () and row.last_ts is None and row.drivers_text == "—"
    assert snap.model.metrics == {} and snap.model.threshold == data.DEFAULT_THRESHOLD
    assert snap.health.events_per_s is None
    detail = data.user_detail(redis_client, keys, victim)
    assert detail.features == {} and detail.shap == {"b": 0.5}
    assert math.isfinite(detail.base_log_odds())


def test_a_ranked_user_without_a_hash_is_skipped(redis_client):
    keys = RedisKeys("race")
    seed(redis_client, keys, 30, seed=5, churned_fraction=0)
    ghost = redis_client.zrevrange(keys.ranking, 0, 0)[0]
    redis_client.delete(keys.user(ghost))
    snap = data.snapshot(redis_client, keys, data.Filters(limit=5))
    assert ghost not in [r.user_id for r in snap.top]
    assert len(snap.top) == 5 and snap.scanned == 10  # a second page refills the table
