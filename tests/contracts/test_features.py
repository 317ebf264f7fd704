"""The shared feature definition: mergeable aggregates, streaming-valid, leak-free and NaN-free features."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import features as FT
from tests.support.features import batch_raw_aggregates
from tests.training.fakelog import DAY_MS, START_MS, hidden_event, make_log, user_event

EPOCH = START_MS


def _events_df(spark, events):
    """The events as JSON lines through the contract's parse and validation, as training and streaming read them."""
    from contracts.parsing import classify_records, valid_events

    lines = spark.createDataFrame([(json.dumps(e).encode(),) for e in events], "value binary")
    return valid_events(classify_records(lines))


def _by_user(df) -> pd.DataFrame:
    return df.toPandas().set_index("userId").sort_index()[list(FT.RAW_COLUMNS)]


def _assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.index) == list(b.index)
    for col in FT.RAW_COLUMNS:
        if col in FT.TEXT_COLUMNS:
            assert a[col].fillna("<null>").tolist() == b[col].fillna("<null>").tolist(), col
        elif col.startswith("dk") or col == "listen_s":
            np.testing.assert_allclose(a[col].astype(float), b[col].astype(float), rtol=1e-12, err_msg=col)
        else:
            assert a[col].astype(float).fillna(-1).tolist() == b[col].astype(float).fillna(-1).tolist(), col


def test_raw_columns_cover_the_contract():
    for name in ("n_events", "first_ts", "last_ts", "registration", "level", "gender",
                 "churn_ts", "listen_s", "session_starts", "n_nextsong", "n_thumbs_down", "n_roll_advert",
                 "dk7_songs", "dk30_songs"):
        assert name in FT.RAW_COLUMNS
    assert not any("cancel" in c for c in FT.RAW_COLUMNS if c != "churn_ts")
    assert len(set(FT.RAW_COLUMNS)) == len(FT.RAW_COLUMNS)
    assert len(FT.FEATURE_NAMES) == len(set(FT.FEATURE_NAMES)) and set(FT.KEY_FEATURES) <= set(FT.FEATURE_NAMES)
    assert all(FT.FEATURE_LABELS[f] for f in FT.FEATURE_NAMES)


@pytest.mark.integration
def test_merge_of_daily_partials_equals_direct_aggregate(spark):
    from pyspark.sql import functions as F

    events, _ = make_log(12, 8, seed=3)
    events.append(hidden_event(START_MS + 5 * DAY_MS, 1, 0))
    # a user whose latest event lacks level and name: "latest" must skip nulls, in both paths
    events.append({**user_event("1000", START_MS + 11 * DAY_MS + 5, "Home", 9, 3, "paid"), "level": None,
                   "firstName": None, "lastName": None})
    df = _events_df(spark, events)
    direct = df.groupBy("userId").agg(*FT.raw_aggregate_columns(EPOCH))
    partials = (df.withColumn("day", F.floor(F.col("ts") / DAY_MS))
                .groupBy("userId", "day").agg(*FT.partial_aggregate_columns(EPOCH)))
    merged = partials.groupBy("userId").agg(*FT.merge_aggregate_columns())
    a, b = _by_user(direct), _by_user(merged)
    _assert_same(a, b)
    assert a.loc["1000", "level"] in ("free", "paid")
    assert a["churn_ts"].notna().sum() == sum(e["page"] == "Cancellation Confirmation" for e in events)
    assert "" not in a.index


@pytest.mark.integration
def test_aggregates_match_a_hand_count(spark):
    u = "7"
    t0 = START_MS + DAY_MS
    evs = [user_event(u, t0, "Home", 1, 0, "free"),
           user_event(u, t0 + 1000, "NextSong", 1, 1, "free", length=100.0),
           user_event(u, t0 + 2000, "Thumbs Down", 1, 2, "free"),
           user_event(u, t0 + 3000, "Submit Upgrade", 1, 3, "free"),
           user_event(u, t0 + 4000, "NextSong", 1, 4, "paid", length=50.5, first="Bo", last="Ray"),
           user_event(u, t0 + DAY_MS, "Cancel", 2, 0, "paid"),
           user_event(u, t0 + DAY_MS + 1000, "Cancellation Confirmation", 2, 1, "paid", auth="Cancelled")]
    raw = _by_user(batch_raw_aggregates(_events_df(spark, evs), t0 + 4000, EPOCH)).loc[u]
    assert (raw.n_events, raw.n_nextsong, raw.n_thumbs_down, raw.session_starts) == (5, 2, 1, 1)
    assert (raw.first_ts, raw.last_ts, raw.level) == (t0, t0 + 4000, "paid")
    assert raw.listen_s == pytest.approx(150.5) and pd.isna(raw.churn_ts)
    assert raw.dk7_songs == pytest.approx(math.exp(1000 / (7 * DAY_MS) + 1 / 7) + math.exp(4000 / (7 * DAY_MS) + 1 / 7))
    later = _by_user(batch_raw_aggregates(_events_df(spark, evs), t0 + 2 * DAY_MS, EPOCH)).loc[u]
    assert later.churn_ts == t0 + DAY_MS + 1000 and later.n_events == 7


@pytest.mark.integration
def test_aggregates_run_in_a_streaming_groupby(spark, tmp_path):
    """The contract's promise to streaming: the same columns work in an update-mode streaming aggregation."""
    from pyspark.sql import functions as F

    from contracts.parsing import classify_records, valid_events

    events, _ = make_log(8, 5, seed=5)
    src = tmp_path / "in"
    src.mkdir()
    half = len(events) // 2
    for i, chunk in enumerate((events[:half], events[half:])):
        (src / f"part{i}.json").write_text("".join(json.dumps(e) + "\n" for e in chunk))
    lines = spark.readStream.option("maxFilesPerTrigger", 1).text(str(src))
    stream = valid_events(classify_records(lines.select(F.col("value").cast("binary").alias("value"))))
    seen: dict[str, pd.Series] = {}

    def collect(batch, _batch_id):
        for _, row in batch.toPandas().iterrows():
            seen[row["userId"]] = row

    q = (stream.groupBy("userId").agg(*FT.raw_aggregate_columns(EPOCH)).writeStream.outputMode("update")
         .foreachBatch(collect).option("checkpointLocation", str(tmp_path / "ck")).trigger(availableNow=True).start())
    q.awaitTermination(120)
    streamed = pd.DataFrame(seen).T.sort_index()[list(FT.RAW_COLUMNS)]
    batch = _by_user(batch_raw_aggregates(_events_df(spark, events), 2**62, EPOCH))
    _assert_same(streamed, batch)


def _raw_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    first = START_MS + rng.integers(0, 20 * DAY_MS, n)
    last = first + rng.integers(0, 20 * DAY_MS, n)
    df = pd.DataFrame({c: rng.integers(0, 50, n).astype(float) for c in FT.RAW_COLUMNS if c not in FT.TEXT_COLUMNS})
    df["first_ts"], df["last_ts"] = first, last
    df["registration"] = first - rng.integers(0, 100 * DAY_MS, n)
    df["churn_ts"] = np.nan
    df["level"] = rng.choice(["free", "paid", None], n)
    df["gender"] = rng.choice(["M", "F", None], n)
    return df


def test_model_features_shape_order_and_determinism():
    raw = _raw_frame(200, 1)
    raw.index = raw.index + 17
    as_of = int(raw["last_ts"].max()) + DAY_MS
    a = FT.model_features(raw, as_of, EPOCH)
    b = FT.model_features(raw.copy(), as_of, EPOCH)
    assert list(a.columns) == list(FT.FEATURE_NAMES) and (a.dtypes == "float64").all()
    assert a.index.equals(raw.index)
    pd.testing.assert_frame_equal(a, b)
    # per-row as-of equals scalar as-of row by row
    per_row = FT.model_features(raw, np.full(len(raw), as_of), EPOCH)
    pd.testing.assert_frame_equal(a, per_row)
    # one row alone gives the same as in a batch (no cross-row state)
    pd.testing.assert_frame_equal(FT.model_features(raw.iloc[[5]], as_of, EPOCH), a.iloc[[5]])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_model_features_are_finite_for_any_counts(data):
    n = data.draw(st.integers(1, 20))
    counts = st.one_of(st.just(0.0), st.floats(0, 1e6), st.just(np.nan))
    raw = pd.DataFrame({c: [data.draw(counts) for _ in range(n)] for c in FT.RAW_COLUMNS if c not in FT.TEXT_COLUMNS})
    raw["first_ts"] = [data.draw(st.integers(START_MS - 400 * DAY_MS, START_MS + 400 * DAY_MS)) for _ in range(n)]
    raw["last_ts"] = raw["first_ts"] + [data.draw(st.integers(0, 100 * DAY_MS)) for _ in range(n)]
    raw["registration"] = [data.draw(st.one_of(st.none(), st.integers(0, 2 * START_MS))) for _ in range(n)]
    for c in FT.TEXT_COLUMNS:
        raw[c] = [data.draw(st.sampled_from([None, "", "paid", "free", "M", "F"])) for _ in range(n)]
    as_of = data.draw(st.integers(START_MS - 500 * DAY_MS, START_MS + 3000 * DAY_MS))
    out = FT.model_features(raw, as_of, EPOCH)
    assert np.isfinite(out.to_numpy()).all()
    assert (out["days_since_last"] >= 0).all() and (out["tenure_days"] >= 0).all()


def test_decayed_counts_fall_with_time_and_trend_reads_recent_activity():
    raw = _raw_frame(2, 2)
    day = START_MS + 30 * DAY_MS
    # user 0 was active only recently, user 1 only long ago: same totals, different decayed sums
    for tau in FT.TAUS_DAYS:
        raw[f"dk{tau}_songs"] = [100 * math.exp((day - EPOCH) / (tau * DAY_MS)),
                                 100 * math.exp((day - 25 * DAY_MS - EPOCH) / (tau * DAY_MS))]
    raw["last_ts"] = [day, day]
    f_now = FT.model_features(raw, day, EPOCH)
    assert f_now.loc[0, "songs_recent_per_day"] == pytest.approx(100 / 7)
    assert f_now.loc[0, "songs_trend"] > 1 > f_now.loc[1, "songs_trend"]
    f_later = FT.model_features(raw, day + 7 * DAY_MS, EPOCH)
    assert f_later.loc[0, "songs_recent_per_day"] == pytest.approx(100 / 7 / math.e)


@pytest.mark.integration
def test_label_pages_do_not_move_features(spark):
    """A Cancel, or a Cancel and its confirmation, before the cutoff changes no feature of any user (they only
    move n_events, last_ts and churn_ts, which the Redis writer reads and no feature does)."""
    events, _ = make_log(8, 6, seed=11)
    cutoff = START_MS + 5 * DAY_MS
    before = [e for e in events if e["userId"] and e["ts"] <= cutoff - 60_000 and e["page"] not in FT.LABEL_PAGES]
    last = max(before, key=lambda e: e["ts"])
    cancel = dict(last, ts=last["ts"] + 1000, page="Cancel", itemInSession=last["itemInSession"] + 1)
    confirm = dict(cancel, ts=cancel["ts"] + 1000, page="Cancellation Confirmation", auth="Cancelled",
                   itemInSession=cancel["itemInSession"] + 1)

    def features(evs):
        raw = _by_user(batch_raw_aggregates(_events_df(spark, evs), cutoff, EPOCH))
        return raw, FT.model_features(raw, cutoff, EPOCH)

    raw0, plain = features(events)
    for extra in ([cancel], [cancel, confirm]):
        raw, with_labels = features(sorted(events + extra, key=lambda e: e["ts"]))
        assert raw.loc[last["userId"], "n_events"] == raw0.loc[last["userId"], "n_events"] + len(extra)
        assert raw.loc[last["userId"], "last_ts"] == extra[-1]["ts"]
        pd.testing.assert_frame_equal(plain, with_labels)


_PAGES_AFTER = ["NextSong", "Thumbs Down", "Roll Advert", "Home", "Logout", "Submit Downgrade", "Cancel",
                "Cancellation Confirmation", "Thumbs Up"]


@pytest.mark.integration
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.data())
def test_no_leakage_events_after_the_cutoff_change_nothing(spark, data):
    """Adding, removing or changing any event after a cutoff leaves every feature at that cutoff unchanged."""
    events, _ = make_log(6, 6, seed=data.draw(st.integers(0, 10_000)))
    cutoff = START_MS + data.draw(st.integers(1, 5)) * DAY_MS
    users = sorted({e["userId"] for e in events if e["userId"]})
    after = [i for i, e in enumerate(events) if e["ts"] > cutoff]
    changed = list(events)
    for i in data.draw(st.lists(st.sampled_from(after), max_size=20, unique=True)) if after else []:
        action = data.draw(st.sampled_from(["drop", "page", "level", "user"]))
        e = dict(changed[i])
        if action == "page":
            e["page"] = data.draw(st.sampled_from(_PAGES_AFTER))
        elif action == "level":
            e["level"] = "paid" if e["level"] == "free" else "free"
        elif action == "user" and e["userId"]:
            e["userId"] = data.draw(st.sampled_from(users))
        changed[i] = None if action == "drop" else e
    changed = [e for e in changed if e is not None]
    for _ in range(data.draw(st.integers(0, 10))):
        changed.append(user_event(data.draw(st.sampled_from(users)),
                                  cutoff + data.draw(st.integers(1, 3 * DAY_MS)),
                                  data.draw(st.sampled_from(_PAGES_AFTER)), 99, 0, "free", gender="M"))

    def feats(evs):
        raw = _by_user(batch_raw_aggregates(_events_df(spark, evs), cutoff, EPOCH)).reset_index()
        return raw, FT.model_features(raw, cutoff, EPOCH)

    (raw_a, fa), (raw_b, fb) = feats(events), feats(changed)
    pd.testing.assert_frame_equal(raw_a, raw_b)
    pd.testing.assert_frame_equal(fa, fb)
