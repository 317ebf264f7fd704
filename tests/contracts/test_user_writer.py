"""The Lua-scripted user write against a real Redis: idempotent, monotone in event time, alerts with hysteresis."""
from __future__ import annotations

import pytest

from contracts.redis_keys import RESCORE_FIELDS, Driver, RedisKeys, UserScore
from contracts.user_writer import UserWriter

pytestmark = pytest.mark.integration
KEYS = RedisKeys("t")


def _write(uid: str, as_of: int, n: int, risk: float, churn_ts: int | None = None, shap=None) -> UserScore:
    shap = shap or {"a": risk, "b": -0.5}
    return UserScore(uid, risk=risk, as_of=as_of, n_events=n, level="paid", churned_ts=churn_ts, shap=shap)


@pytest.fixture
def writer(redis_client):
    return UserWriter(redis_client, KEYS, threshold=0.5, hysteresis=0.1, alert_maxlen=100)


def _codes(written) -> list[int]:
    return [w.code for w in written]


def test_replayed_write_changes_nothing(writer, redis_client):
    assert _codes(writer.write([_write("u1", 1000, 5, 0.7)])) == [2]  # written, with an "up" alert
    before = redis_client.hgetall(KEYS.user("u1"))
    assert _codes(writer.write([_write("u1", 1000, 5, 0.7)])) == [0]
    assert redis_client.hgetall(KEYS.user("u1")) == before
    assert redis_client.xlen(KEYS.alerts) == 1
    assert redis_client.hget(KEYS.health, "valid_events") == "5"  # counted once


def test_older_score_never_overwrites_newer(writer, redis_client):
    writer.write([_write("u1", 2000, 9, 0.2)])
    assert _codes(writer.write([_write("u1", 1000, 5, 0.9)])) == [0]
    assert _codes(writer.write([_write("u1", 2000, 8, 0.9)])) == [0]
    assert float(redis_client.hget(KEYS.user("u1"), "risk")) == 0.2
    assert _codes(writer.write([_write("u1", 2000, 10, 0.3)])) == [1]  # same clock, more events: newer


def test_alerts_cross_with_hysteresis(writer, redis_client):
    risks = [0.3, 0.55, 0.45, 0.52, 0.39, 0.41, 0.6]
    for i, r in enumerate(risks):
        writer.write([_write("u1", 1000 + i, i + 1, r)])
    alerts = [(f["direction"], float(f["risk"])) for _, f in redis_client.xrange(KEYS.alerts)]
    # up at 0.55; 0.45 and 0.52 stay inside the band; down only below 0.5 - 0.1; up again at 0.6
    assert alerts == [("up", 0.55), ("down", 0.39), ("up", 0.6)]
    assert redis_client.hget(KEYS.user("u1"), "alerting") == "1"


def test_churned_user_leaves_ranking(writer, redis_client):
    writer.write([_write("u1", 1000, 3, 0.8), _write("u2", 1000, 3, 0.1)])
    assert redis_client.zcard(KEYS.ranking) == 2
    writer.write([_write("u1", 2000, 4, 0.9, churn_ts=1900)])
    assert redis_client.zrange(KEYS.ranking, 0, -1) == ["u2"]
    assert redis_client.zscore(KEYS.churned, "u1") == 1900
    assert redis_client.hget(KEYS.user("u1"), "churned") == "1"


def test_importance_tracks_active_users(writer, redis_client):
    writer.write([_write("u1", 1000, 1, 0.2, shap={"a": 0.4, "b": -0.2})])
    writer.write([_write("u2", 1000, 1, 0.2, shap={"a": -0.1, "b": 0.3})])
    writer.write([_write("u1", 2000, 2, 0.2, shap={"a": 1.0, "b": 0.0})])  # replaces u1's old contribution
    imp = {k: float(v) for k, v in redis_client.hgetall(KEYS.importance).items()}
    assert imp["__n__"] == 2
    assert imp["a"] == pytest.approx(1.1) and imp["b"] == pytest.approx(0.3)
    writer.write([_write("u2", 3000, 2, 0.2, churn_ts=2500)])
    imp = {k: float(v) for k, v in redis_client.hgetall(KEYS.importance).items()}
    assert imp["__n__"] == 1 and imp["a"] == pytest.approx(1.0)


def test_a_write_that_keeps_shap_rewrites_only_the_rescored_fields(writer, redis_client):
    first = UserScore("u1", risk=0.3, band="low", as_of=1000, n_events=4, level="paid", gender="F", last_ts=900,
                      features={"days_since_last": 0.1}, shap={"a": 0.4, "b": -0.2}, model_version="m1",
                      drivers=(Driver("a", "A", 1.0, 0.4),), scored_at=5)
    writer.write([first])
    before = redis_client.hgetall(KEYS.user("u1"))
    imp_before = redis_client.hgetall(KEYS.importance)
    later = UserScore("u1", risk=0.6, band="high", as_of=2000, n_events=4, level="paid",
                      features={"days_since_last": 1.1}, model_version="m2", scored_at=6)  # a refresh, a day later
    assert _codes(writer.write([later], keep_shap=[True])) == [2]  # crossed the threshold: an alert
    after = redis_client.hgetall(KEYS.user("u1"))
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed == set(RESCORE_FIELDS) | {"alerting", "first_high_ts"}
    assert {k: after[k] for k in RESCORE_FIELDS} == later.rescore_hash()
    assert redis_client.hgetall(KEYS.importance) == imp_before  # the kept SHAP values still count once


def test_write_counts_new_events_and_reports_names(writer, redis_client):
    first = writer.write([_write("u1", 1000, 5, 0.2), _write("u2", 1000, 3, 0.2)])
    assert [(w.new_events, w.named) for w in first] == [(5, False), (3, False)]
    redis_client.hset(KEYS.user("u1"), "name", "Ada Lovelace")
    again = writer.write([_write("u1", 2000, 12, 0.2), _write("u2", 1000, 3, 0.2)])  # u2's write is a replay
    assert [(w.code, w.new_events, w.named) for w in again] == [(1, 7, True), (0, 0, False)]
    assert redis_client.hget(KEYS.health, "valid_events") == str(12 + 3)


def test_chunked_calls_leave_the_state_user_by_user_writes_leave(redis_client):
    """Many users per script call (importance summed per call) end where one call per user ends, whatever the
    split into calls and pipelines; a user twice in one call is written, then refused as a replay."""
    import random

    rng = random.Random(4)
    writes = []
    for step in range(4):
        for u in range(30):
            shap = {"a": rng.uniform(-1, 1), "b": rng.uniform(-1, 1), "c": rng.uniform(-1, 1)}
            churn = 4000 if step == 3 and u % 7 == 0 else None
            writes.append(_write(f"u{u}", 1000 * (step + 1), step + 1, rng.random(), churn_ts=churn, shap=shap))
    writes.insert(5, writes[4])  # the same write twice in a row: a replay inside one call

    def run(per_call: int, chunk: int) -> tuple[list, dict]:
        redis_client.flushdb()
        written = UserWriter(redis_client, KEYS, 0.5, 0.1, 100, chunk=chunk, per_call=per_call).write(writes)
        state = {"users": {k: redis_client.hgetall(k) for k in redis_client.scan_iter(match=KEYS.user("*"))},
                 "ranking": redis_client.zrange(KEYS.ranking, 0, -1, withscores=True),
                 "churned": redis_client.zrange(KEYS.churned, 0, -1, withscores=True),
                 "alerts": [f for _, f in redis_client.xrange(KEYS.alerts)],
                 "valid": redis_client.hget(KEYS.health, "valid_events"),
                 "importance": {k: float(v) for k, v in redis_client.hgetall(KEYS.importance).items()}}
        return written, state

    one_by_one, want = run(per_call=1, chunk=1)
    assert one_by_one[5].code == 0 and one_by_one[4].code > 0
    for per_call, chunk in ((100, 500), (7, 20)):
        written, got = run(per_call, chunk)
        assert written == one_by_one
        importance = got.pop("importance")
        assert got == {k: v for k, v in want.items() if k != "importance"}
        assert importance.keys() == want["importance"].keys()
        for f, v in want["importance"].items():
            assert importance[f] == pytest.approx(v, rel=1e-9, abs=1e-9), f


def test_cancellation_keeps_the_last_active_risk_and_whether_it_was_caught(writer, redis_client):
    writer.write([_write("u1", 1000, 3, 0.3), _write("u2", 1000, 3, 0.2)])
    writer.write([_write("u1", 2000, 4, 0.7), _write("u2", 2000, 4, 0.4)])  # u1 enters the high band at 2000
    writer.write([_write("u1", 3000, 5, 0.4)])  # drops below again: the first entry stays
    assert redis_client.hget(KEYS.user("u1"), "first_high_ts") == "2000"
    assert redis_client.hget(KEYS.user("u2"), "first_high_ts") is None
    cancel = [_write("u1", 9000, 9, 0.95, churn_ts=8500), _write("u2", 9000, 9, 0.9, churn_ts=8000),
              _write("u3", 9000, 2, 0.8, churn_ts=8800)]  # u3: cancelled in its first scored batch
    writer.write(cancel)
    assert {u: redis_client.hget(KEYS.user(u), "risk_before_cancel") for u in ("u1", "u2", "u3")} == {
        "u1": "0.4", "u2": "0.4", "u3": "0.8"}
    assert redis_client.zrange(KEYS.cancelled_risk, 0, -1, withscores=True) == [("u1", 0.4), ("u2", 0.4), ("u3", 0.8)]
    assert redis_client.zrange(KEYS.caught, 0, -1, withscores=True) == [("u1", 6500.0)]  # 8500 - 2000
    before = {u: redis_client.hgetall(KEYS.user(u)) for u in ("u1", "u2", "u3")}
    assert _codes(writer.write(cancel)) == [0, 0, 0]  # a replayed batch changes nothing
    writer.write([_write("u1", 9500, 10, 0.99, churn_ts=8500)])  # a later write of a cancelled user keeps them
    assert redis_client.hget(KEYS.user("u1"), "risk_before_cancel") == "0.4"
    assert {u: redis_client.hget(KEYS.user(u), "risk_before_cancel") for u in before} == {
        u: h["risk_before_cancel"] for u, h in before.items()}
    assert redis_client.zcard(KEYS.caught) == 1 and redis_client.zscore(KEYS.caught, "u1") == 6500


def test_write_loads_the_script_again_after_redis_forgot_it(writer, redis_client):
    """A restarted Redis has no scripts: the write loads it again and goes on, with every chunk written once."""
    writer.write([_write("u1", 1000, 3, 0.3)])
    many = UserWriter(redis_client, KEYS, 0.5, 0.1, 100, chunk=4, per_call=2)
    redis_client.script_flush()
    written = many.write([_write(f"v{i}", 1000, 2, 0.1 * (i % 10)) for i in range(11)])
    assert len(written) == 11 and all(w.code > 0 for w in written)
    assert redis_client.zcard(KEYS.ranking) == 12
    assert redis_client.hget(KEYS.health, "valid_events") == str(3 + 11 * 2)


def test_a_lost_connection_resumes_at_the_first_chunk_not_read(redis_client, monkeypatch):
    """Each chunk is sent before the previous one's replies are read. When the connection drops, the write starts
    again at the first chunk whose replies it had not read; users Redis already holds are refused, not counted
    twice."""
    writer = UserWriter(redis_client, KEYS, 0.5, 0.1, 100, chunk=3, per_call=2)
    reads = []
    read = UserWriter._read

    def read_then_drop(conn, calls, done):  # the fault, at a chosen point: a real Redis drops the connection
        read(conn, calls, done)
        reads.append(calls)
        if len(reads) == 2:  # the first chunk's replies read, the second chunk in flight
            redis_client.client_kill_filter(_type="normal", skipme=True)

    monkeypatch.setattr(UserWriter, "_read", staticmethod(read_then_drop))
    written = writer.write([_write(f"u{i}", 1000, 2, 0.2) for i in range(8)])
    assert len(reads) > 4  # the drop cost a retry
    assert len(written) == 8 and [w.code for w in written[:3]] == [1, 1, 1] and written[-1].code == 1
    assert redis_client.zcard(KEYS.ranking) == 8
    assert redis_client.hget(KEYS.health, "valid_events") == str(8 * 2)
