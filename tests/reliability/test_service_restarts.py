"""Kafka or Redis goes away mid-stream and comes back on the same port and data: nothing is lost or doubled.

Each test starts its own service instance (free port, own data folder) so that stopping it cannot disturb
other tests. The job runs continuously (processing-time trigger), as in production.
"""
from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from contracts.validation import classify
from devstack.services import JARS, KafkaBroker, RedisServer, find_java, free_port
from tests.producer.replay_logs import read_topic
from tests.reliability.common import (ROOT, job_cmd, job_env, kill9, model_for_log, snapshot, start_job,
                                      wait_exit)
from tests.streaming.helpers import log_lines, produce_lines, simulate_log

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(900)]


def _wait_for(pred, timeout: float, what: str, proc: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = pred()
        except Exception:  # the service under test may be down right now
            value = None
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode} while waiting for {what}; "
                                 f"{log.read_text(errors='replace')[-1500:] if log else ''}")
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _stop_job(proc: subprocess.Popen, log: Path) -> None:
    """SIGTERM (a clean stop) and expect exit 0: the job itself must not have failed through the outage."""
    proc.send_signal(signal.SIGTERM)
    assert wait_exit(proc, 120, log) == 0, log.read_text(errors="replace")[-2000:]


def _expected(lines: list[bytes]) -> tuple[Counter, Counter]:
    """Per user, the number of valid events; and the verdict counts."""
    verdicts = [classify(x) for x in lines]
    per_user = Counter(v.event["userId"] for v in verdicts if v.status == "valid")
    return per_user, Counter(v.status for v in verdicts)


def test_broker_restart_during_paced_replay_loses_nothing_and_the_job_counts_what_kafka_holds(tmp_path):
    """The replay and the job ride out a broker outage: every line reaches the topic once, the job counts the topic.

    A batch the broker appended while shutting down and librdkafka retried after the restart must not be there
    twice (the replay's producer is in a transaction, which the broker remembers: see the tests below); the job
    reads read_committed, so it counts committed transactions only.
    """
    broker = KafkaBroker("kafka", free_port(), tmp_path / "kafka").start()
    redis_server = RedisServer("redis", free_port(), tmp_path / "redis").start()
    proc = None
    try:
        log = simulate_log(tmp_path / "sim.json", users=20, days=10, seed=21)
        lines = log_lines(log)
        topic, prefix = f"brk-{uuid.uuid4().hex[:8]}", "brk"
        model_dir = model_for_log(log, tmp_path / "models")
        job_log = tmp_path / "job.log"
        proc = start_job(job_cmd(broker.bootstrap, topic, redis_server.url, model_dir, tmp_path / "ckpt", 2000,
                                 available_now=False), job_env(prefix), job_log)
        client = redis_server.client()
        _wait_for(lambda: client.hget(f"{prefix}:health", "query_started_ms"), 400, "the job to start", proc, job_log)
        # ~90 s of sending: the job's first micro-batch takes 20-45 s on a loaded 2-core machine, and the outage
        # must land after it has counted events and before the replay ends
        rate = max(50, len(lines) // 90)
        replay = subprocess.Popen(
            [sys.executable, "-m", "producer", "replay", str(log), "--topic", topic, "--bootstrap", broker.bootstrap,
             "--rate", str(rate), "--state", str(tmp_path / "state.json"), "--partitions", "2", "--json"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _wait_for(lambda: int(client.hget(f"{prefix}:health", "events_in") or 0) > 0, 300, "first events", proc, job_log)
        assert replay.poll() is None, "the replay finished before the outage: raise the event count"

        broker.stop()  # clean stop of the only broker, mid-replay and mid-stream
        time.sleep(8)
        broker.start()  # same port, same data folder (and the same controller port)

        out, err = replay.communicate(timeout=300)
        assert replay.returncode == 0, err.decode()[-1500:]
        records = read_topic(broker.bootstrap, topic, len(lines), timeout=60)
        missing = Counter(lines) - Counter(r.value() for r in records)
        assert not missing, f"{sum(missing.values())} log lines missing from the topic"
        positions: dict[bytes, set[bytes]] = defaultdict(set)  # the replay's run:position header -> values
        for r in records:
            positions[dict(r.headers() or ())["sparkify-replay"]].add(r.value())
        assert len(positions) == len(lines)  # one position per log line, nothing else in the topic
        assert all(len(v) == 1 for v in positions.values())  # a duplicate would be the same position retried
        doubled = len(records) - len(positions)
        assert doubled == 0, f"{doubled} records duplicated by retries after the restart"
        lines = [r.value() for r in records]  # the job must count exactly what Kafka holds
        _wait_for(lambda: int(client.hget(f"{prefix}:health", "events_in") or 0) >= len(lines), 300,
                  "the job to count every event", proc, job_log)
        per_user, verdicts = _expected(lines)
        # events_in is recorded after the users' writes, but wait for every user's final count too
        _wait_for(lambda: {k.split(":user:", 1)[1]: int(client.hget(k, "n_events"))
                           for k in client.scan_iter(match=f"{prefix}:user:*")} == dict(per_user), 180,
                  "every user's final count", proc, job_log)
        time.sleep(3)  # a record counted twice by the job would show up as a count above the topic's
        _stop_job(proc, job_log)
        proc = None
        got = snapshot(client, prefix)
        assert int(got["health"]["events_in"]) == len(lines)
        assert int(got["health"]["valid_events"]) == verdicts["valid"]
        users = {k.split(":user:", 1)[1]: h for k, h in got["users"].items()}
        assert {u: int(h["n_events"]) for u, h in users.items()} == dict(per_user)
        print(f"\nbroker restart: {len(positions)} log lines sent at {rate}/s, {len(records)} records in the topic "
              f"({doubled} duplicated by retries after the restart); the job counted "
              f"{got['health']['events_in']}; replay summary {out.decode().strip().splitlines()[-1]}")
    finally:
        if proc is not None and proc.poll() is None:
            kill9(proc)
        broker.stop()
        redis_server.stop()


def _producers(broker: KafkaBroker, topic: str) -> list[tuple[str, str, str]]:
    """(producer id, last sequence, start offset of its open transaction or "None") of every idempotent producer
    the broker remembers on partition 0 of ``topic``."""
    out = subprocess.run([find_java(), "-cp", str(JARS / "broker" / "*"), "org.apache.kafka.tools.TransactionsCommand",
                          "--bootstrap-server", broker.bootstrap, "describe-producers", "--topic", topic,
                          "--partition", "0"], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-800:]
    rows = [line.split() for line in out.stdout.strip().splitlines()[1:]]  # ProducerId Epoch CoordEpoch LastSeq ...
    return [(r[0], r[3], r[5]) for r in rows]


def _log_end(bootstrap: str, topic: str) -> int:
    """Partition 0's log end offset, uncommitted records included."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "log-end", "isolation.level": "read_uncommitted"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)[1]
    finally:
        c.close()


def _last_data_batch(broker: KafkaBroker, topic: str) -> tuple[int, int, bytes]:
    """(base offset, record count, bytes) of the last record batch that is not a transaction marker in partition 0's
    log, read from the stopped broker's segment files (v2 batch layout: KIP-98)."""
    segments = sorted((broker.state_dir / "kafka-data" / f"{topic}-0").glob("*.log"))
    last = None
    for seg in segments:
        data, i = seg.read_bytes(), 0
        while i + 12 <= len(data):
            base, length = struct.unpack_from(">qi", data, i)
            batch = data[i:i + 12 + length]
            attributes, = struct.unpack_from(">h", batch, 21)
            count, = struct.unpack_from(">i", batch, 57)
            if not attributes & 0x20:  # not a control batch (commit/abort marker)
                last = (base, count, batch)
            i += 12 + length
    assert last is not None, f"no record batch in {segments}"
    return last


def _send_again(bootstrap: str, topic: str, batch: bytes, transactional_id: str | None) -> dict:
    """Send a batch read from the log again, byte for byte, as librdkafka does when it retries a request: same
    producer id, epoch and sequence (only the base offset and leader epoch, outside the CRC, reset as a producer
    sends them). Returns partition 0's produce response."""
    from kafka.net.compat import KafkaNetClient
    from kafka.protocol.producer import ProduceRequest

    raw = bytearray(batch)
    raw[0:8] = bytes(8)  # base offset 0
    raw[12:16] = b"\xff" * 4  # partition leader epoch -1
    topic_data = ProduceRequest.TopicProduceData
    request = ProduceRequest(transactional_id=transactional_id, acks=-1, timeout_ms=10_000, min_version=3,
                             max_version=9, topic_data=[topic_data(name=topic, partition_data=[
                                 topic_data.PartitionProduceData(index=0, records=bytes(raw))])])
    client = KafkaNetClient(bootstrap_servers=[bootstrap])
    try:
        client.check_version()
        response = client.send_and_receive(1, request).to_dict()  # node 1: the devstack broker
    finally:
        client.close()
    return response["responses"][0]["partition_responses"][0]


@pytest.fixture(scope="module")
def producers_across_a_restart(tmp_path_factory):
    """Three idempotent producers, and what a clean broker restart (same port, data) does to each.

    * ``replayed``: ``producer replay`` itself (records stamped with the events' 2018 times, as the README
      specifies), frozen (SIGSTOP) in the middle of its transaction for the restart, then let go on;
    * ``idempotent-2018``: the replay's producer settings without a transaction, the same 2018 times (the replay
      before it used transactions);
    * ``wallclock``: the replay's producer settings, record time left to default to now.

    After the restart the last record batch of ``replayed`` and ``idempotent-2018`` is sent again, byte for byte,
    as librdkafka does when it retries a request the broker appended but never acknowledged.
    """
    from contracts.settings import Settings
    from producer.kafka_out import ensure_topic, make_producer
    from producer.logfiles import expand_paths
    from producer.resume import identity_of, transactional_id

    tmp = tmp_path_factory.mktemp("producer-state")
    broker = KafkaBroker("kafka", free_port(), tmp / "kafka").start()
    replay = None
    try:
        log = simulate_log(tmp / "sim.json", users=5, days=3, seed=5)
        lines = open(log, "rb").readlines()
        limit = min(400, len(lines))
        settings = Settings.from_env().replace(kafka_bootstrap=broker.bootstrap)
        for topic, stamp in (("idempotent-2018", True), ("wallclock", False)):
            ensure_topic(settings, topic, 1)
            producer = make_producer(settings)
            for line in lines[:200]:
                ts = json.loads(line)["ts"]
                producer.produce(topic, value=line.rstrip(b"\n"), timestamp=ts if stamp else 0)
            assert producer.flush(60) == 0
        others = ("idempotent-2018", "wallclock")
        before = {t: _producers(broker, t) for t in others}

        # the replay: paced, and with its checkpoint (so its commit) only at the end: one transaction, open
        state = tmp / "state.json"
        replay = subprocess.Popen(
            [sys.executable, "-m", "producer", "replay", str(log), "--topic", "replayed", "--bootstrap",
             broker.bootstrap, "--partitions", "1", "--limit", str(limit), "--rate", "40", "--state-every", "3600",
             "--state", str(state), "--json"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _wait_for(lambda: _log_end(broker.bootstrap, "replayed") >= 40, 120, "the replay's first records", replay)
        os.kill(replay.pid, signal.SIGSTOP)
        before["replayed"] = _producers(broker, "replayed")
        broker.stop()
        last = {t: _last_data_batch(broker, t) for t in ("replayed", "idempotent-2018")}
        broker.start()
        # before anything else: the replay's transaction is timing; and before the batches are sent again
        after = {t: _producers(broker, t) for t in ("replayed", "idempotent-2018")}
        ends = {t: _log_end(broker.bootstrap, t) for t in last}
        txn_id = transactional_id(identity_of(expand_paths([str(log)]), "replayed", None, broker.bootstrap,
                                              {"from": None, "until": None, "limit": limit, "loop": False}), state)
        retried = {t: _send_again(broker.bootstrap, t, last[t][2], txn_id if t == "replayed" else None)
                   for t in last}
        ends_after = {t: _log_end(broker.bootstrap, t) for t in last}
        os.kill(replay.pid, signal.SIGCONT)
        out, err = replay.communicate(timeout=300)
        assert replay.returncode == 0, err.decode()[-1500:]
        after["wallclock"] = _producers(broker, "wallclock")
        records = read_topic(broker.bootstrap, "replayed", limit, timeout=60)
    finally:
        if replay is not None and replay.poll() is None:
            os.kill(replay.pid, signal.SIGCONT)
            replay.kill()
        broker.stop()
    return {"before": before, "after": after, "last": {t: v[:2] for t, v in last.items()}, "ends": ends,
            "retried": retried, "ends_after": ends_after, "limit": limit, "records": records,
            "summary": json.loads(out.decode().strip().splitlines()[-1])}


def test_broker_restart_keeps_the_idempotence_state_of_a_producer_stamping_records_now(producers_across_a_restart):
    """The harness restart keeps the broker's state (same data folder, cluster, port): the dedup state survives."""
    before, after = producers_across_a_restart["before"], producers_across_a_restart["after"]
    assert before["wallclock"] and after["wallclock"] == before["wallclock"]


def test_broker_restart_keeps_the_replays_idempotence_state(producers_across_a_restart):
    """The replay's records carry 2018 times, far beyond producer.id.expiration.ms, but its producer is in an open
    transaction, which the broker never expires: it is still known after the restart, transaction and all."""
    before, after = producers_across_a_restart["before"], producers_across_a_restart["after"]
    assert before["replayed"] and before["replayed"][0][2] != "None"  # frozen mid-transaction
    assert after["replayed"] == before["replayed"]


def test_a_request_retried_after_a_broker_restart_is_not_appended_twice(producers_across_a_restart):
    """The replay's last batch, sent again after the restart, is recognised as a duplicate (acknowledged at its
    first offset, nothing appended). Without a transaction the broker forgets the 2018-stamped producer at start-up
    (producer.id.expiration.ms is checked against the record time) and appends the retried batch a second time:
    the duplicate the replay used to leave after a broker restart."""
    fx = producers_across_a_restart
    base, _ = fx["last"]["replayed"]
    assert fx["retried"]["replayed"]["error_code"] == 0 and fx["retried"]["replayed"]["base_offset"] == base
    assert fx["ends_after"]["replayed"] == fx["ends"]["replayed"]

    assert fx["before"]["idempotent-2018"] and fx["after"]["idempotent-2018"] == []
    _, count = fx["last"]["idempotent-2018"]
    assert fx["retried"]["idempotent-2018"]["error_code"] == 0
    assert fx["ends_after"]["idempotent-2018"] == fx["ends"]["idempotent-2018"] + count  # appended again


def test_the_replay_frozen_across_the_restart_commits_each_position_once(producers_across_a_restart):
    fx = producers_across_a_restart
    summary, records = fx["summary"], fx["records"]
    assert summary["acknowledged"] == summary["sent"] == fx["limit"] and summary["aborted"] is None
    positions = [dict(r.headers())["sparkify-replay"] for r in records]
    assert len(positions) == len(set(positions)) == fx["limit"]


def test_redis_restart_mid_stream_job_retries_and_redis_ends_complete(kafka_broker, tmp_path):
    server = RedisServer("redis", free_port(), tmp_path / "redis").start()
    proc = None
    try:
        log = simulate_log(tmp_path / "sim.json", users=25, days=14, seed=22)
        lines = log_lines(log)
        topic, prefix = f"rds-{uuid.uuid4().hex[:8]}", "rds"
        produce_lines(kafka_broker.bootstrap, topic, lines)
        model_dir = model_for_log(log, tmp_path / "models")
        job_log = tmp_path / "job.log"
        proc = start_job(job_cmd(kafka_broker.bootstrap, topic, server.url, model_dir, tmp_path / "ckpt", 500,
                                 available_now=False), job_env(prefix), job_log)
        health = f"{prefix}:health"
        _wait_for(lambda: int(server.client().hget(health, "batch_id") or -1) >= 2, 300, "a few batches", proc, job_log)
        before = int(server.client().hget(health, "events_in") or 0)
        assert before < len(lines), "the job finished before the outage: lower --max-offsets-per-trigger"

        server.stop()  # clean shutdown: the append-only file has every acknowledged write
        time.sleep(10)  # long enough for batches to hit the outage and back off
        assert proc.poll() is None, "the job died while Redis was down"
        server.start()

        client = server.client()
        _wait_for(lambda: int(client.hget(health, "events_in") or 0) >= len(lines), 400,
                  "the job to count every event after Redis came back", proc, job_log)
        per_user, verdicts = _expected(lines)
        _wait_for(lambda: {k.split(":user:", 1)[1]: int(client.hget(k, "n_events"))
                           for k in client.scan_iter(match=f"{prefix}:user:*")} == dict(per_user), 120,
                  "every user's final count", proc, job_log)
        time.sleep(3)
        _stop_job(proc, job_log)
        proc = None
        got = snapshot(client, prefix)
        assert int(got["health"]["events_in"]) == len(lines)
        assert int(got["health"]["valid_events"]) == verdicts["valid"]
        assert len(got["ranking"]) + len(got["churned"]) == len(per_user)
        print(f"\nredis restart: outage after {before} of {len(lines)} events; all {len(per_user)} users complete")
    finally:
        if proc is not None and proc.poll() is None:
            kill9(proc)
        server.stop()
