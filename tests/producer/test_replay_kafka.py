"""Replay against the real broker: exactly once, byte for byte, keyed, timestamped, ordered per user, and what
happens when a transaction cannot commit."""
from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import replace

import pytest

from contracts.settings import Settings
from devstack.services import free_port
from producer.kafka_out import BrokerUnreachable
from producer.replay import ReplayOptions, run_replay
from producer.resume import HEADER, identity_of, transactional_id
from producer.stream import StreamOptions
from tests.producer.replay_logs import make_events, read_topic, write_log

pytestmark = pytest.mark.integration


def _settings(broker) -> Settings:
    return Settings(kafka_bootstrap=broker.bootstrap)


def _key_of(line: bytes) -> bytes:
    e = json.loads(line)
    return (e["userId"] or f"__hidden__:{e['sessionId']}").encode()


def test_every_event_arrives_once_unchanged_keyed_and_in_user_order(kafka_broker, topic, tmp_path):
    events = make_events(600, users=15, hidden_every=25)
    # two ts-sorted files with interleaving times, plus bad lines in each
    a = write_log(tmp_path / "a.jsonl", events[0::2], bad_lines={3: b"{not json", 50: b'{"ts": 5, "page": "Home"}'})
    b = write_log(tmp_path / "b.jsonl", events[1::2], bad_lines={7: b'{"ts": 1538352000000, "page": "Nope"}'})
    dlt = topic + "-dlt"
    summary = run_replay(ReplayOptions(paths=[str(tmp_path)], topic=topic, partitions=3, dead_letter_topic=dlt,
                                       state_path=tmp_path / "state.json"), _settings(kafka_broker))

    assert summary.sent == summary.acknowledged == 600 and summary.failed == 0
    assert dict(summary.skipped) == {"not_json": 1, "bad_value": 1, "unknown_page": 1}
    assert summary.dead_lettered == summary.dead_letters_acknowledged == 3
    records = read_topic(kafka_broker.bootstrap, topic, 600)
    assert len(records) == 600
    assert sorted(r.value() for r in records) == sorted(a + b)  # byte for byte, no loss, no duplicate
    assert len({r.partition() for r in records}) == 3
    for r in records:
        ts = json.loads(r.value())["ts"]
        assert r.timestamp()[1] == ts
        assert r.key() == _key_of(r.value())
    # per key: the partition order equals the event-time (= input) order of that key
    input_order = defaultdict(list)
    for e in events:
        line = json.dumps(e, separators=(",", ":")).encode()
        input_order[_key_of(line)].append(line)
    got = defaultdict(list)
    for r in sorted(records, key=lambda r: (r.partition(), r.offset())):
        got[r.key()].append(r.value())
    assert got == input_order
    dead = read_topic(kafka_broker.bootstrap, dlt, 3)
    reasons = sorted(dict(m.headers())["reason"] for m in dead)
    assert reasons == [b"bad_value", b"not_json", b"unknown_page"]


def test_speed_factor_is_kept(kafka_broker, topic, tmp_path):
    # 41 events 500 ms apart: 20 s of event time, at speed 10 => 2 s of wall time
    events = make_events(41, step_ms=0)
    for i, e in enumerate(events):
        e["ts"] += i * 500
    write_log(tmp_path / "log.jsonl", events)
    opts = ReplayOptions(paths=[str(tmp_path / "log.jsonl")], topic=topic, partitions=1, speed=10.0,
                         state_path=tmp_path / "s.json")
    t0 = time.monotonic()
    summary = run_replay(opts, _settings(kafka_broker))
    wall = summary.elapsed_s
    assert summary.acknowledged == 41
    assert 1.9 <= wall <= 2.8, wall
    assert time.monotonic() - t0 < 15


def test_rate_is_kept(kafka_broker, topic, tmp_path):
    write_log(tmp_path / "log.jsonl", make_events(301))
    opts = ReplayOptions(paths=[str(tmp_path / "log.jsonl")], topic=topic, partitions=1, rate=150.0,
                         state_path=tmp_path / "s.json")
    summary = run_replay(opts, _settings(kafka_broker))
    assert summary.acknowledged == 301
    assert 1.95 <= summary.elapsed_s <= 2.8, summary.elapsed_s  # 300 gaps at 150/s = 2 s


def test_loop_shifts_event_time_and_rewrites_only_ts(kafka_broker, topic, tmp_path):
    events = make_events(5)
    good = write_log(tmp_path / "log.jsonl", events)
    span = events[-1]["ts"] - events[0]["ts"]
    opts = ReplayOptions(paths=[str(tmp_path / "log.jsonl")], topic=topic, partitions=1,
                         stream=StreamOptions(loop=True, limit=12), state_path=tmp_path / "s.json")
    summary = run_replay(opts, _settings(kafka_broker))
    assert summary.acknowledged == 12
    records = sorted(read_topic(kafka_broker.bootstrap, topic, 12), key=lambda r: r.offset())
    assert len(records) == 12
    for i, r in enumerate(records):
        k, j = divmod(i, 5)
        shifted = events[j]["ts"] + k * (span + 1000)
        assert r.timestamp()[1] == shifted
        assert r.value() == good[j].replace(str(events[j]["ts"]).encode(), str(shifted).encode(), 1)
    ts = [r.timestamp()[1] for r in records]
    assert ts == sorted(ts)


def test_time_window_and_limit(kafka_broker, topic, tmp_path):
    events = make_events(100)
    write_log(tmp_path / "log.jsonl", events)
    lo, hi = events[20]["ts"], events[60]["ts"]
    opts = ReplayOptions(paths=[str(tmp_path / "log.jsonl")], topic=topic, partitions=2,
                         stream=StreamOptions(from_ms=lo, until_ms=hi, limit=30), state_path=tmp_path / "s.json")
    summary = run_replay(opts, _settings(kafka_broker))
    inside = [e for e in events if lo <= e["ts"] < hi][:30]
    assert summary.acknowledged == 30
    got = sorted(json.loads(r.value())["ts"] for r in read_topic(kafka_broker.bootstrap, topic, 30))
    assert got == sorted(e["ts"] for e in inside)


def test_every_record_carries_its_position(kafka_broker, topic, tmp_path):
    write_log(tmp_path / "log.jsonl", make_events(10), bad_lines={4: b"oops"})
    summary = run_replay(ReplayOptions(paths=[str(tmp_path / "log.jsonl")], topic=topic, partitions=1,
                                       state_path=tmp_path / "s.json"), _settings(kafka_broker))
    assert summary.acknowledged == 10
    state = json.loads((tmp_path / "s.json").read_text())
    assert state["acked"] == 11 and state["complete"] is True
    positions = [int(dict(r.headers())[HEADER].split(b":")[1]) for r in
                 sorted(read_topic(kafka_broker.bootstrap, topic, 10), key=lambda r: r.offset())]
    assert positions == [0, 1, 2, 3, 5, 6, 7, 8, 9, 10]  # position 4 is the bad line


def test_a_failed_record_aborts_its_transaction_and_resume_sends_the_rest_once(kafka_broker, topic, tmp_path):
    """The broker rejects one record (a time days ahead: valid for the contract, not for a Kafka 4 broker), and
    with it the batch it travels in. Its transaction cannot commit: the replay aborts it and stops. The topic
    (read_committed) and the saved position hold exactly the transactions committed before it."""
    events = make_events(600, users=10)
    bad_at = 500  # late enough for clean checkpoints before it, after the producer's start-up (~1 s)
    log = tmp_path / "log.jsonl"
    write_log(log, events[:bad_at] + [dict(events[bad_at], ts=int(time.time() * 1000) + 10 * 86_400_000)]
              + events[bad_at + 1:])
    opts = ReplayOptions(paths=[str(log)], topic=topic, partitions=2, rate=200.0, state_every_s=0.05,
                         state_path=tmp_path / "s.json")
    first = run_replay(opts, _settings(kafka_broker))
    assert first.failed >= 1 and "timestamp" in first.first_error.lower()
    assert first.aborted and first.aborted.startswith("a record failed")
    assert bad_at < first.sent < 600  # it stopped at the first checkpoint after the failure
    state = json.loads((tmp_path / "s.json").read_text())
    assert 0 < state["acked"] <= bad_at and state["complete"] is False
    assert first.acknowledged == state["acked"]  # one position per event here
    assert first.unconfirmed == first.sent - first.acknowledged - first.failed > 0  # the aborted ones
    assert len(read_topic(kafka_broker.bootstrap, topic, first.acknowledged)) == first.acknowledged

    good = write_log(log, events)  # the cause fixed; same input and options: resume sends only the rest
    second = run_replay(replace(opts, resume=True), _settings(kafka_broker))
    assert second.failed == 0 and second.aborted is None and second.resumed_from == state["acked"]
    assert second.found_in_topic == 0
    assert second.sent == second.acknowledged == 600 - state["acked"]
    records = read_topic(kafka_broker.bootstrap, topic, 600)
    assert sorted(r.value() for r in records) == sorted(good)  # no gap, no duplicate


def test_a_transaction_the_broker_aborted_after_its_timeout_stops_the_replay_and_resume_sends_all_once(
        kafka_broker, topic, tmp_path):
    """What an outage longer than the transaction timeout does, without the outage: no checkpoint for longer
    than a 2 s transaction timeout, so the broker's coordinator aborts the open transaction (it looks every
    10 s) and bumps the producer's epoch. librdkafka reports the producer fenced (a fatal error): the replay
    stops with the reason, nothing of the transaction is visible, and ``--resume`` sends every event once."""
    good = write_log(tmp_path / "log.jsonl", make_events(6000, users=10))
    opts = ReplayOptions(paths=[str(tmp_path / "log.jsonl")], topic=topic, partitions=2, rate=250.0,
                         state_every_s=3600, state_path=tmp_path / "s.json",
                         producer_overrides={"transaction.timeout.ms": 2000, "delivery.timeout.ms": 2000})
    first = run_replay(opts, _settings(kafka_broker))
    assert first.aborted and first.aborted.startswith("the broker aborted the transaction"), first.aborted
    assert 0 < first.sent < 6000 and first.acknowledged == 0
    state = json.loads((tmp_path / "s.json").read_text())
    assert state["acked"] == 0 and state["complete"] is False
    assert read_topic(kafka_broker.bootstrap, topic, 0, timeout=3) == []  # read_committed: nothing

    second = run_replay(replace(opts, resume=True, rate=None, state_every_s=1.0, producer_overrides={}),
                        _settings(kafka_broker))
    assert second.aborted is None and second.resumed_from == 0 and second.found_in_topic == 0
    assert second.sent == second.acknowledged == 6000
    records = read_topic(kafka_broker.bootstrap, topic, 6000)
    assert sorted(r.value() for r in records) == sorted(good)


def test_a_fatal_error_without_its_cause_is_still_reported_as_the_broker_aborting(kafka_broker, topic, tmp_path):
    """After a fatal error, ``produce`` may raise only "Local: Fatal error" (a race with the delivery reports that
    name the cause): the abort asks the transactional API for the cause, so the replay says what happened."""
    from confluent_kafka import KafkaError, KafkaException

    from producer.kafka_out import Transactions, make_producer, transactional_config
    from producer.progress import Summary
    from producer.replay import CommitLog, DeliveryFailures
    from producer.resume import ReplayState

    settings = _settings(kafka_broker)
    summary = Summary(topic=topic)
    failures = DeliveryFailures(topic, None, summary)
    fenced = make_producer(settings, **{"delivery.report.only.error": True, "on_delivery": failures,
                                        **transactional_config(f"fatal-{topic}")})
    txn = Transactions(fenced, kafka_broker.bootstrap)
    txn.init(60)
    txn.begin()
    fenced.produce(topic, b"x")
    fenced.flush(10)
    Transactions(make_producer(settings, **transactional_config(f"fatal-{topic}")), kafka_broker.bootstrap).init(60)
    log = CommitLog(fenced, txn, failures, ReplayState.fresh({}), tmp_path / "s.json", summary)

    cause = log.abort(KafkaException(KafkaError(KafkaError._FATAL)))

    assert cause.startswith("the broker aborted the transaction"), cause
    assert not txn.open


def test_dead_letter_topic_must_differ_from_the_event_topic(tmp_path):
    write_log(tmp_path / "log.jsonl", make_events(3))
    with pytest.raises(ValueError, match="dead-letter topic must differ"):
        run_replay(ReplayOptions(paths=[str(tmp_path / "log.jsonl")], topic="t", partitions=1, dead_letter_topic="t",
                                 state_path=tmp_path / "s.json"), Settings(kafka_bootstrap="127.0.0.1:1"))


def test_a_transaction_commits_in_time_even_when_checkpoint_flushes_never_drain(kafka_broker, topic, tmp_path,
                                                                                 monkeypatch):
    """A broker slower than the replay: the 0.5 s flush of a checkpoint leaves records in flight, so it cannot commit.
    Here no flush may wait at all; once the transaction is COMMIT_AT_LATEST_S old, the checkpoint waits for the
    records and commits, so no transaction outlives the broker's transaction timeout."""
    from confluent_kafka import Producer

    import producer.kafka_out as kafka_out
    import producer.replay as replay

    commits: list[float] = []
    commit = kafka_out.Transactions.commit

    def timed_commit(self, timeout):
        commit(self, timeout)
        commits.append(time.monotonic())

    class NeverDrainsAtOnce(Producer):
        def flush(self, *timeout):
            left = super().flush(*timeout)
            return left if timeout and timeout[0] > 0 else max(left, 1)  # a flush that may not wait never drains

    monkeypatch.setattr(kafka_out.Transactions, "commit", timed_commit)
    monkeypatch.setattr(replay, "make_producer",
                        lambda settings, **kw: NeverDrainsAtOnce(kafka_out.producer_config(settings, **kw)))
    monkeypatch.setattr(replay, "CHECKPOINT_FLUSH_S", 0.0)
    monkeypatch.setattr(replay, "COMMIT_AT_LATEST_S", 1.0)
    good = write_log(tmp_path / "log.jsonl", make_events(3000, users=10))
    opts = ReplayOptions(paths=[str(tmp_path / "log.jsonl")], topic=topic, partitions=2, rate=1000.0,
                         state_every_s=0.2, state_path=tmp_path / "s.json")
    summary = run_replay(opts, _settings(kafka_broker))
    assert summary.aborted is None and summary.acknowledged == 3000
    gaps = [b - a for a, b in zip(commits, commits[1:])]
    assert len(commits) >= 3 and max(gaps) < 2.5, gaps  # ~1 s apart, the last at the end
    assert sorted(r.value() for r in read_topic(kafka_broker.bootstrap, topic, 3000)) == sorted(good)


def test_records_still_unconfirmed_after_the_flush_timeout_are_aborted_and_counted_per_topic(kafka_broker, topic,
                                                                                                tmp_path):
    """The broker stops answering (SIGSTOP) once the producer has started its transaction: every record stays
    unconfirmed through the flush timeout; the transaction is aborted (purging them) and nothing is committed."""
    import os
    import signal

    from producer.merge import file_source

    write_log(tmp_path / "log.jsonl", make_events(20), bad_lines={5: b"oops", 9: b"[1]"})
    lines = file_source([tmp_path / "log.jsonl"])
    frozen = []

    def source(stats):
        for item in lines(stats):
            if not frozen:
                os.kill(kafka_broker.proc.pid, signal.SIGSTOP)
                frozen.append(True)
            yield item

    opts = ReplayOptions(paths=[], source=source, source_identity={"test": "frozen broker"}, topic=topic, partitions=1,
                         dead_letter_topic=topic + "-dlt", flush_timeout_s=1.0, state_path=tmp_path / "s.json")
    try:
        summary = run_replay(opts, _settings(kafka_broker))
    finally:
        os.kill(kafka_broker.proc.pid, signal.SIGCONT)
    assert frozen
    assert (summary.sent, summary.acknowledged, summary.failed, summary.unconfirmed) == (20, 0, 0, 20)
    assert (summary.dead_lettered, summary.dead_letters_acknowledged) == (2, 0)
    assert summary.aborted == "22 records still unconfirmed after 1 s"
    state = json.loads((tmp_path / "s.json").read_text())
    assert state["acked"] == 0 and state["complete"] is False


def test_a_producer_that_cannot_reach_the_transaction_coordinator_fails_in_one_line(kafka_broker, topic, tmp_path):
    # the topic exists, but the producer itself talks to a port where no broker listens
    write_log(tmp_path / "log.jsonl", make_events(3))
    opts = ReplayOptions(paths=[str(tmp_path / "log.jsonl")], topic=topic, partitions=1, connect_timeout_s=2.0,
                         state_path=tmp_path / "s.json",
                         producer_overrides={"bootstrap.servers": f"127.0.0.1:{free_port()}"})
    with pytest.raises(BrokerUnreachable, match="cannot start a Kafka transaction") as info:
        run_replay(opts, _settings(kafka_broker))
    assert "\n" not in str(info.value)


def test_one_transactional_id_per_input_options_and_state_file(tmp_path):
    ident = identity_of([tmp_path / "a.json"], "t", None, "127.0.0.1:9092", {"limit": None})
    same = transactional_id(ident, tmp_path / "s.json")
    assert same == transactional_id(dict(ident), tmp_path / "." / "s.json")  # a resume finds the same id
    assert same.startswith("sparkify-replay-")
    assert transactional_id(ident, tmp_path / "other.json") != same
    assert transactional_id({**ident, "topic": "u"}, tmp_path / "s.json") != same
