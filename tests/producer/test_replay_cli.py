"""The replay CLI as a user runs it: Ctrl-C, an unreachable broker, kill -9 then --resume."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from devstack.services import free_port
from tests.producer.replay_logs import make_events, read_topic, write_log

ROOT = Path(__file__).resolve().parents[2]


def _replay(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "producer", "replay", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_sending(proc: subprocess.Popen, state: Path, timeout: float = 60) -> dict:
    """Until the replay has committed its first transaction (its state file moved past position 0): on a fresh
    broker the first transactional producer waits for the transaction log to be created. Returns the state."""
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "replay did not start"
        if state.exists():
            saved = json.loads(state.read_text())
            if saved["acked"] > 0:
                return saved
        time.sleep(0.05)


def test_unreachable_broker_one_line_exit_2(tmp_path):
    write_log(tmp_path / "log.jsonl", make_events(3))
    proc = _replay(str(tmp_path / "log.jsonl"), "--bootstrap", f"127.0.0.1:{free_port()}",
                   "--connect-timeout", "2")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach Kafka"), err
    assert b"Traceback" not in err


@pytest.mark.integration
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_flushes_everything_reported_sent(kafka_broker, topic, tmp_path, sig):
    good = write_log(tmp_path / "log.jsonl", make_events(5000))
    state = tmp_path / "state.json"
    proc = _replay(str(tmp_path / "log.jsonl"), "--bootstrap", kafka_broker.bootstrap, "--topic", topic,
                   "--rate", "1000", "--state", str(state), "--json")
    _wait_for_sending(proc, state)
    time.sleep(1.5)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    summary = json.loads(out.decode().strip().splitlines()[-1])
    assert summary["stopped_by"] == sig.name
    assert 100 < summary["sent"] < 5000
    assert summary["acknowledged"] == summary["sent"] and summary["unconfirmed"] == 0
    records = read_topic(kafka_broker.bootstrap, topic, summary["sent"])
    assert sorted(r.value() for r in records) == sorted(good[: summary["sent"]])  # a prefix, each once
    assert "replay summary (stopped by" in err.decode()


@pytest.mark.integration
@pytest.mark.parametrize("saved_state", ["kept", "lagging"])
def test_resume_after_kill_9_delivers_each_event_exactly_once_in_order(kafka_broker, topic, tmp_path, saved_state):
    """``lagging``: the state file is put back to position 0 after the kill, as if every write after a commit had
    been lost (a kill between a commit and the write loses one), so every committed record of the first run must
    be found by the topic-tail scan; ``kept``: the usual mix of saved progress and scan. Either way the killed
    run's open transaction is aborted by the resume's producer (same transactional.id), or the scan, reading
    read_committed, would wait for it."""
    events = make_events(4000, users=30, hidden_every=40)
    good = write_log(tmp_path / "log.jsonl", events, bad_lines={100: b"garbage", 2500: b"[1,2]"})
    state = tmp_path / "state.json"
    common = [str(tmp_path / "log.jsonl"), "--bootstrap", kafka_broker.bootstrap, "--topic", topic,
              "--partitions", "3", "--state", str(state), "--dead-letter-topic", topic + "-dlt"]
    first = _replay(*common, "--rate", "1500", "--state-every", "0.3")
    _wait_for_sending(first, state)
    time.sleep(1.0)
    os.kill(first.pid, signal.SIGKILL)
    first.communicate(timeout=10)
    if saved_state == "lagging":
        state.write_text(json.dumps({**json.loads(state.read_text()), "acked": 0}))
    saved = json.loads(state.read_text())["acked"]
    assert 0 <= saved < 4002

    second = _replay(*common, "--resume", "--json")
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err.decode()
    summary = json.loads(out.decode().strip().splitlines()[-1])
    assert summary["resumed_from"] == saved
    if saved_state == "lagging":
        assert saved == 0 and summary["found_in_topic"] > 100
    assert 0 < summary["sent"] < 4000

    records = read_topic(kafka_broker.bootstrap, topic, 4000)
    values = [r.value() for r in records]
    assert len(values) == 4000 and sorted(values) == sorted(good)  # no gap, no duplicate
    by_key = defaultdict(list)
    for r in sorted(records, key=lambda r: (r.partition(), r.offset())):
        by_key[r.key()].append(json.loads(r.value())["itemInSession"])
    assert all(seq == sorted(seq) for seq in by_key.values())  # itemInSession = input index: input order
    dead = read_topic(kafka_broker.bootstrap, topic + "-dlt", 2)
    assert sorted(m.value() for m in dead) == [b"[1,2]", b"garbage"]


@pytest.mark.integration
def test_a_lost_transaction_exits_1_with_one_line_saying_to_resume(kafka_broker, topic, tmp_path):
    events = make_events(400, users=5)
    events[300]["ts"] = int(time.time() * 1000) + 10 * 86_400_000  # refused by the broker: the transaction aborts
    write_log(tmp_path / "log.jsonl", events)
    state = tmp_path / "state.json"
    proc = _replay(str(tmp_path / "log.jsonl"), "--bootstrap", kafka_broker.bootstrap, "--topic", topic,
                   "--rate", "400", "--state-every", "0.1", "--state", str(state))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    errors = [x for x in err.decode().splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and "a record failed" in errors[0] and "--resume" in errors[0], err.decode()
    assert str(state) in errors[0] and b"Traceback" not in err
