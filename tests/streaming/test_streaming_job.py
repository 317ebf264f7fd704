"""The streaming job end to end on the real services: Kafka in, Spark state, scores and drivers in Redis.

The parity test is the proof of "one feature definition": for every user, the features and risk the stream
wrote equal those the batch (training) code computes from the same log at the same event time.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from contracts.artifact import load_artifact, quick_artifact
from contracts.features import FEATURE_NAMES, model_features
from tests.support.features import batch_raw_aggregates
from contracts.redis_keys import RedisKeys
from contracts.settings import Settings
from tests.streaming.helpers import log_lines, produce_lines, run_job, simulate_log

pytestmark = pytest.mark.integration
DAY_MS = 86_400_000
KEYS = RedisKeys("sparkify")


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sim")
    log = simulate_log(folder / "sim.json", users=30, days=14, seed=5)
    return log, log_lines(log)


@pytest.fixture(scope="module")
def batch_events(spark, sim):
    """The training code's events of the log: the reference the stream must equal."""
    from training.dataset import load_events

    return load_events(spark, [str(sim[0])]).cache()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, spark, batch_events):
    """A small model trained on the batch features at a few cutoffs (a fixture, not an evaluation)."""
    first = batch_events.agg({"ts": "min"}).first()[0]
    epoch = first - first % DAY_MS
    frames, labels = [], []
    for day in (4, 7, 10):
        cutoff = epoch + day * DAY_MS
        raw = batch_raw_aggregates(batch_events, cutoff, epoch).toPandas()
        frames.append(model_features(raw, cutoff, epoch))
        labels.append(raw["churn_ts"].notna().to_numpy() | (model_features(raw, cutoff, epoch)["thumbs_down_per_song"]
                                                            > 0.01).to_numpy())
    import pandas as pd

    folder = tmp_path_factory.mktemp("models")
    quick_artifact(folder, pd.concat(frames, ignore_index=True), np.concatenate(labels), epoch_ms=epoch)
    return folder


@pytest.fixture(scope="module")
def streamed(spark, kafka_broker, redis_server, sim, model_dir, tmp_path_factory):
    """The whole simulated log through Kafka (2 partitions) and the job, in several micro-batches."""
    topic = "stream-parity"
    produce_lines(kafka_broker.bootstrap, topic, sim[1], partitions=2)
    client = redis_server.client()
    client.flushdb()
    settings = Settings.from_env({}).replace(kafka_bootstrap=kafka_broker.bootstrap, topic=topic,
                                             redis_url=redis_server.url, max_offsets_per_trigger=2500)
    run_job(spark, settings, model_dir, tmp_path_factory.mktemp("ckpt"))
    users = {}
    for uid in client.zrange(KEYS.ranking, 0, -1) + client.zrange(KEYS.churned, 0, -1):
        users[uid] = client.hgetall(KEYS.user(uid))
    return client, users


def test_features_and_risk_equal_batch_at_same_event_time(streamed, batch_events, model_dir):
    _, users = streamed
    artifact = load_artifact(model_dir)
    expected_users = {r.userId for r in batch_events.select("userId").distinct().collect()}
    assert set(users) == expected_users
    by_as_of: dict[int, list[str]] = {}
    for uid, h in users.items():
        by_as_of.setdefault(int(h["as_of"]), []).append(uid)
    compared = 0
    for as_of, uids in by_as_of.items():
        raw = batch_raw_aggregates(batch_events, as_of, artifact.epoch_ms).toPandas().set_index("userId").loc[uids]
        want = model_features(raw.reset_index(), as_of, artifact.epoch_ms)
        risk, _ = artifact.predict_and_explain(want[list(artifact.feature_names)])
        for i, uid in enumerate(uids):
            got = json.loads(users[uid]["features"])
            assert set(got) == set(FEATURE_NAMES)
            for name in FEATURE_NAMES:
                assert math.isclose(got[name], want[name].iloc[i], rel_tol=1e-9, abs_tol=1e-9), (uid, name)
            assert math.isclose(float(users[uid]["risk"]), risk[i], rel_tol=1e-9, abs_tol=1e-9), uid
            assert int(users[uid]["n_events"]) == int(raw["n_events"].iloc[i])
            compared += 1
    assert compared == len(expected_users) > 20


def test_ranking_drivers_churn_alerts_and_health(streamed, sim, model_dir, batch_events):
    client, users = streamed
    artifact = load_artifact(model_dir)
    ranking = client.zrevrange(KEYS.ranking, 0, -1, withscores=True)
    assert [s for _, s in ranking] == sorted((s for _, s in ranking), reverse=True)
    for uid, score in ranking:
        h = users[uid]
        assert math.isclose(float(h["risk"]), score) and h["churned"] == "0"
        assert h["name"] and h["location"]  # display text, fetched from Kafka for new users
        drivers = json.loads(h["drivers"])
        assert 1 <= len(drivers) <= 4 and all({"feature", "label", "value", "contribution"} <= set(d) for d in drivers)
        ups = [d["contribution"] for d in drivers if d["contribution"] > 0]
        assert ups == sorted(ups, reverse=True)
    churned = {r.userId for r in batch_events.where("page = 'Cancellation Confirmation'").select("userId").collect()}
    assert churned and set(client.zrange(KEYS.churned, 0, -1)) == churned
    assert not churned & {u for u, _ in ranking}
    high = {u for u, h in users.items() if h["churned"] == "0" and float(h["risk"]) >= artifact.threshold}
    alerted_up = {f["user"] for _, f in client.xrange(KEYS.alerts) if f["direction"] == "up"}
    assert high <= alerted_up
    health = client.hgetall(KEYS.health)
    assert int(health["events_in"]) == len(sim[1])
    assert int(health["valid_events"]) == batch_events.count()
    assert int(health["dead_letters"]) == 0
    assert int(health["clock_ms"]) == batch_events.agg({"ts": "max"}).first()[0]
    assert client.hget(KEYS.model, "version") == artifact.version


def test_garbage_is_dead_lettered_and_counted(spark, kafka_broker, redis_server, sim, model_dir, tmp_path):
    lines = list(sim[1][:3000])
    garbage = [b"not json", b"[1,2,3]", b'{"ts": "yesterday", "page": "Home"}', b'{"page": "Home"}',
               b'{"ts": 1538352117000, "page": "Dance"}', b"\xff\xfe\x00", b"{" * 5]
    for i, bad in enumerate(garbage * 5):
        lines.insert(100 * i + 7, bad)
    topic = "stream-garbage"
    produce_lines(kafka_broker.bootstrap, topic, lines, partitions=2)
    settings = Settings.from_env({}).replace(kafka_bootstrap=kafka_broker.bootstrap, topic=topic,
                                             redis_url=redis_server.url, redis_prefix="garbage",
                                             max_offsets_per_trigger=1000)
    run_job(spark, settings, model_dir, tmp_path / "ckpt")
    client = redis_server.client()
    keys = RedisKeys("garbage")
    health = client.hgetall(keys.health)
    assert int(health["dead_letters"]) == len(garbage) * 5
    assert int(health["events_in"]) == len(lines)
    reasons = [f["reason"] for _, f in client.xrange(keys.dead_letters)]
    assert len(reasons) == len(garbage) * 5
    assert set(reasons) == {"not_json", "not_object", "wrong_type", "missing_field", "unknown_page", "bad_encoding"}
    assert client.zcard(keys.ranking) + client.zcard(keys.churned) > 0


def test_help_exits_zero():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "streaming", "--help"], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0 and "--max-offsets-per-trigger" in out.stdout


def test_missing_model_is_one_line(tmp_path):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "streaming", "--model-dir", str(tmp_path / "none"),
                          "--redis-url", "redis://127.0.0.1:1/0"], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2], timeout=180)
    assert out.returncode == 2
    assert out.stderr.strip().startswith("error:") and "Traceback" not in out.stderr


#: What the page shows (dashboard/app.py), by the data layer's record it comes from.
PAGE_HEALTH = ("events_per_s", "events_in", "dead_letters", "clock_ms", "last_batch_wall_ms", "batch_id", "batch_ms",
               "lag")
PAGE_MODEL = ("version", "threshold", "metrics", "features", "artifact_dir", "horizon_days", "loaded_at")
PAGE_ROW = ("user_id", "risk", "band", "level", "drivers", "last_ts", "name")
PAGE_DETAIL = ("features", "shap", "gender", "location", "n_events", "as_of", "model_version", "scored_at")
PAGE_ALERT = ("added_ms", "user", "direction", "risk", "threshold", "as_of", "level")


def _missing(record, names) -> list[str]:
    return [n for n in names if getattr(record, n) in (None, "", (), [], {})]


def test_the_dashboard_reads_a_value_for_everything_the_page_shows(streamed, model_dir):
    """The contract between the two services: the job's real output, read by the dashboard's data layer."""
    from dashboard import data

    client, users = streamed
    snap = data.snapshot(client, KEYS, data.Filters(limit=len(users)))
    assert not snap.empty and snap.has_health
    assert snap.headline.active_users == len(snap.top) > 0 and snap.headline.churned > 0
    assert snap.headline.threshold == pytest.approx(load_artifact(model_dir).threshold)
    assert _missing(snap.health, PAGE_HEALTH) == []
    assert _missing(snap.model, PAGE_MODEL) == [] and data.flatten_metrics(snap.model.metrics)
    assert Path(snap.model.artifact_dir).is_dir()
    assert snap.importance and sum(b.count for b in snap.histogram) == snap.headline.active_users
    assert snap.alerts and all(_missing(a, PAGE_ALERT) == [] for a in snap.alerts)
    for row in snap.top:
        assert _missing(row, PAGE_ROW) == [], row.user_id
        assert row.drivers_text != "—" or all(d.contribution <= 0 for d in row.drivers)
    for uid in users:
        detail = data.user_detail(client, KEYS, uid)
        assert detail is not None and _missing(detail, PAGE_DETAIL) == [], uid
        assert _missing(detail.row, PAGE_ROW) == [], uid
        assert set(detail.features) == set(FEATURE_NAMES) and detail.base_log_odds() is not None
        assert detail.model_version == snap.model.version
        assert (detail.churned_ts is not None) == detail.row.churned, uid
