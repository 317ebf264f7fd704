"""Target lists, the catch rate, the population sample and the CSV export against a real Redis holding 22,000
seeded users, compared with the seed's own ground truth."""
from __future__ import annotations

import csv
import io
import statistics

import pytest

from contracts.redis_keys import band_for
from dashboard import data
from dashboard.catch import catch_rate
from dashboard.export import COLUMNS, csv_bytes
from dashboard.population import SAMPLE_SIZE, dependence_frame, population_sample
from dashboard.refresh import read_refresh
from dashboard.targets import TargetFilter, TargetReader
from dashboard.usage import MEASURES, population_mean, usage_tiles

pytestmark = pytest.mark.integration
THRESHOLD = 0.45  # the big seed's


def risk_of(u) -> float:
    """The risk a list shows: the current one, or for a cancelled user the last one while active."""
    return u.risk_before_cancel if u.churned else u.risk


def _expected(result, filt: TargetFilter):
    pool = [u for u in result.users if u.churned == (filt.status == "cancelled")]
    rows = [u for u in pool if filt.min_risk <= risk_of(u) <= filt.max_risk
            and (not filt.bands or band_for(risk_of(u), THRESHOLD) in filt.bands)
            and (not filt.levels or u.level in filt.levels)]
    return sorted(rows, key=lambda u: (risk_of(u), u.user_id), reverse=True)  # Redis: equal scores by id, descending


FILTERS = [
    TargetFilter(),
    TargetFilter(0.2, 0.6),
    TargetFilter(levels=("paid",)),
    TargetFilter(0.1, 0.9, bands=("high", "low"), levels=("free",)),
    TargetFilter(bands=("medium",)),
    TargetFilter(0.3, 0.3),
    TargetFilter(status="cancelled"),
    TargetFilter(0.4, 1.0, levels=("paid",), status="cancelled"),
    TargetFilter(bands=("high",), status="cancelled"),
]


@pytest.mark.parametrize("filt", FILTERS, ids=lambda f: repr(f))
def test_filters_count_and_list_the_matching_users(big_client, big_keys, big_seed, filt):
    found = TargetReader(big_client, big_keys).find(filt, THRESHOLD, limit=40)
    expected = _expected(big_seed, filt)
    assert found.count == len(expected)
    assert [t.user_id for t in found.rows] == [u.user_id for u in expected[:40]]
    assert [t.row.risk for t in found.rows] == pytest.approx([risk_of(u) for u in expected[:40]])
    assert all(t.row.band == band_for(t.row.risk, THRESHOLD) for t in found.rows)
    assert all(t.row.churned == (filt.status == "cancelled") for t in found.rows)


def test_filters_change_the_count(big_client, big_keys, big_seed):
    reader = TargetReader(big_client, big_keys)
    counts = [reader.find(f, THRESHOLD, 0).count for f in FILTERS]
    assert len(set(counts)) >= len(FILTERS) - 1 and counts[0] == len(big_seed.active)


def test_catch_rate_counts_users_high_before_cancelling(big_client, big_keys, big_seed):
    catch = catch_rate(big_client, big_keys)
    churned = [u for u in big_seed.users if u.churned]
    caught = [u for u in churned if u.first_high_ts is not None and u.first_high_ts <= u.churned_ts]
    assert catch.cancelled == len(churned) and catch.caught == len(caught) and 0 < catch.caught < catch.cancelled
    assert catch.median_lead_ms == pytest.approx(statistics.median(u.churned_ts - u.first_high_ts for u in caught))
    latest = sorted(churned, key=lambda u: -u.churned_ts)[:10]
    assert [c.user_id for c in catch.recent] == [u.user_id for u in latest]
    assert [c.lead_ms is not None for c in catch.recent] == [u in caught for u in latest]
    assert [c.risk_before for c in catch.recent] == pytest.approx([u.risk_before_cancel for u in latest])


def test_the_sample_is_bounded_stratified_and_stable(big_client, big_keys, big_seed):
    sample = population_sample(big_client, big_keys)
    active = {u.user_id: u for u in big_seed.active}
    assert sample.size == SAMPLE_SIZE and sample.population == len(active)
    assert set(sample.values.index) <= set(active)
    ranked = sorted(active.values(), key=lambda u: u.risk)
    assert ranked[0].user_id in sample.values.index and ranked[-1].user_id in sample.values.index
    assert list(population_sample(big_client, big_keys).values.index) == list(sample.values.index)
    frame = dependence_frame(sample, "days_since_last", "songs_per_day")
    assert len(frame) == SAMPLE_SIZE and frame["shap"].corr(frame["value"]) > 0.9  # the seed's model is linear


def test_usage_tiles_compare_the_user_with_the_population(big_client, big_keys, big_seed):
    sample = population_sample(big_client, big_keys)
    top = max(big_seed.active, key=lambda u: u.risk)
    detail = data.user_detail(big_client, big_keys, top.user_id)
    tiles = {t.label: t for t in usage_tiles(detail, sample)}
    assert tiles["Status"].value == "Active" and tiles["Level"].value == top.level
    assert set(tiles) == {"Status", "Level", *(m.label for m in MEASURES)}
    age = next(m for m in MEASURES if m.label == "Account age")
    mean = population_mean(age, sample)
    assert mean == pytest.approx(sample.values["tenure_days"].mean())
    assert tiles["Account age"].delta == f"{detail.features['tenure_days'] - mean:+,.0f} d vs avg"
    assert all(t.value != "—" for t in tiles.values())


def test_csv_export_holds_the_filtered_users(big_client, big_keys, big_seed):
    filt = TargetFilter(0.35, 0.8, levels=("paid",))
    body, n = csv_bytes(TargetReader(big_client, big_keys).iter_all(filt, THRESHOLD, chunk=500))
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    expected = _expected(big_seed, filt)
    assert n == len(rows) == len(expected) > 500
    assert tuple(rows[0]) == COLUMNS
    assert [r["id"] for r in rows] == [u.user_id for u in expected]
    assert [float(r["risk"]) for r in rows] == pytest.approx([u.risk for u in expected], abs=1e-4)
    assert {r["level"] for r in rows} == {"paid"} and all(r["name"] and r["as_of"] and r["last_activity"] for r in rows)


def test_a_refresh_reads_a_bounded_number_of_things(big_client, big_keys, big_seed):
    """No KEYS/SCAN; per-user reads only for the table, the sample and the latest cancellations."""
    big_client.config_resetstat()
    page = read_refresh(big_client, big_keys, TargetFilter(0.2, 0.9, levels=("paid",)), limit=25)
    stats = {k.removeprefix("cmdstat_"): v for k, v in big_client.info("commandstats").items()}
    assert not {"keys", "scan", "hscan", "zscan", "sscan"} & set(stats)
    # the HMGETs: table, sample, recent cancellations; the HGETs: the level script's, on the server, one per
    # active user in the risk range (no user hash travels to the page for the count)
    assert stats["hmget"]["calls"] == len(page.targets.rows) + page.sample.size + len(page.catch.recent)
    assert stats["hget"]["calls"] == sum(0.2 <= u.risk <= 0.9 for u in big_seed.active)
    script = stats["evalsha"]  # a first call may be refused with NOSCRIPT (then loaded and retried)
    assert script["calls"] - script["failed_calls"] - script["rejected_calls"] == 1
    calls = sum(v["calls"] for k, v in stats.items() if k not in {"hmget", "hget", "config|resetstat", "info"})
    assert calls < 120  # aggregates, histogram buckets, ranges: a fixed number, not per user
