"""kill -9 the streaming job at chosen points, restart it on the same checkpoint: Redis ends as if nothing happened.

The reference is one uninterrupted ``--available-now`` run over the same topic. All data is in the topic before
either run starts and ``maxOffsetsPerTrigger`` is fixed, so both runs cut the same micro-batches (checked below
on the checkpoints' offset logs): per-user ``as_of`` (the batch's event-time clock) can then be compared exactly.
"""
from __future__ import annotations

import json
import math
import random
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Callable

import pytest

from contracts.redis_keys import RedisKeys
from tests.reliability.common import (batch_offsets, job_cmd, job_env, kill9, model_for_log, snapshot, start_job,
                                      wait_exit)
from tests.streaming.helpers import log_lines, produce_lines, simulate_log

# its own waits (reference run, six restarts, a final run) add up to more than 1,500 s on a loaded machine
pytestmark = [pytest.mark.reliability, pytest.mark.timeout(2400)]
MAX_OFFSETS = 1000
BAD_LINES = [b"garbage", b"[1,2]", b'{"ts": "soon", "userId": "1", "page": "NextSong"}', b"\xff\xfe not utf-8",
             b'{"ts": 1538352117000, "page": "Teleport", "userId": "2", "auth": "Logged In", "sessionId": 1,'
             b' "level": "free", "itemInSession": 0, "method": "GET", "status": 200}']

Health = dict[str, str]
Condition = Callable[[Health, Health, float], bool]  # (health now, health at run start, seconds since start)


def _changed(field: str) -> Condition:
    return lambda h, h0, _t: h.get(field) is not None and h.get(field) != h0.get(field)


def _scoring_in_flight(h: Health, h0: Health, _t: float) -> bool:
    """A batch recorded its clock-before (just before its users are scored and written), not yet its health."""
    return h.get("clock_batch") != h0.get("clock_batch") and h.get("batch_id") == h0.get("batch_id")


#: not a health field: what :func:`_state` adds, the number of users whose names a batch recorded and the background
#: fetch has not written yet (``{p}:unnamed``)
UNNAMED = "(unnamed waiting)"


def _names_in_flight(h: Health, h0: Health, _t: float) -> bool:
    """A batch ended with new users whose names are still being fetched in the background. (The window between a
    batch's counts and its health write, a kill point while the names were fetched there, is now a few ms.)"""
    return int(h.get(UNNAMED, 0)) > 0 and h.get("batch_id") != h0.get("batch_id")


KILL_POINTS: list[tuple[str, Condition, float]] = [  # (name, condition, extra random delay up to s)
    ("early: queries just started", lambda h, h0, _t: h.get("query_started_ms") != h0.get("query_started_ms"), 0.0),
    ("right after a scores batch wrote its health, before Spark commits it", _changed("batch_id"), 0.0),
    ("during the users' Redis writes", _scoring_in_flight, 0.0),
    ("while a batch's new users' names are fetched in the background", _names_in_flight, 0.0),
    ("mid-batch, random delay after a batch", _changed("batch_id"), 2.0),
    ("late: 85% of events counted", lambda h, _h0, _t: int(h.get("events_in", 0)) >= 0, 0.0),  # set below
]


@pytest.fixture(scope="module")
def loaded_topic(kafka_broker, tmp_path_factory) -> tuple[str, list[bytes], Path]:
    folder = tmp_path_factory.mktemp("crash")
    log = simulate_log(folder / "sim.json", users=40, days=21, seed=5)
    lines = log_lines(log)
    step = len(lines) // (len(BAD_LINES) + 1)
    for i, bad in enumerate(BAD_LINES, start=1):
        lines.insert(i * step, bad)
    topic = f"crash-{uuid.uuid4().hex[:8]}"
    produce_lines(kafka_broker.bootstrap, topic, lines, partitions=2)
    model_dir = model_for_log(log, folder / "models")
    return topic, lines, model_dir


def _state(client, keys: RedisKeys) -> Health:
    """The stream-health hash, and how many users wait for their names."""
    return {**client.hgetall(keys.health), UNNAMED: str(client.hlen(keys.unnamed))}


def _run_with_kills(cmd: list[str], env: dict[str, str], client, keys: RedisKeys, log: Path,
                    points: list[tuple[str, Condition, float]], rng: random.Random) -> list[str]:
    """Start, kill -9 at each point in turn, restart on the same checkpoint; returns the points actually hit."""
    health_key = keys.health
    hit: list[str] = []
    for name, cond, delay in points:
        h0 = _state(client, keys)
        proc = start_job(cmd, env, log)
        started = time.monotonic()
        fired = False
        while proc.poll() is None and time.monotonic() - started < 600:
            if cond(_state(client, keys), h0, time.monotonic() - started):
                if delay:
                    time.sleep(rng.uniform(0, delay))
                kill9(proc)
                fired = True
                break
            time.sleep(0.02)
        if not fired:
            assert proc.poll() == 0, f"job exited with {proc.poll()} before kill point '{name}'"
            return hit  # it finished before this point: nothing left to interrupt
        hit.append(f"{name} (events_in={client.hget(health_key, 'events_in') or 0},"
                   f" batch_id={client.hget(health_key, 'batch_id')})")
    proc = start_job(cmd, env, log)
    assert wait_exit(proc, 900, log) == 0, f"final run failed; see {log}"
    return hit


def test_kill_9_at_many_points_then_restart_equals_uninterrupted_run(loaded_topic, kafka_broker, redis_server,
                                                                        tmp_path):
    topic, lines, model_dir = loaded_topic
    client = redis_server.client()
    ref_ckpt, crash_ckpt = tmp_path / "ckpt-ref", tmp_path / "ckpt-crash"
    ref_prefix, crash_prefix = f"ref{uuid.uuid4().hex[:6]}", f"crash{uuid.uuid4().hex[:6]}"

    t0 = time.monotonic()
    ref = start_job(job_cmd(kafka_broker.bootstrap, topic, redis_server.url, model_dir, ref_ckpt, MAX_OFFSETS),
                    job_env(ref_prefix), tmp_path / "ref.log")
    assert wait_exit(ref, 900, tmp_path / "ref.log") == 0
    ref_seconds = time.monotonic() - t0
    want = snapshot(client, ref_prefix)
    assert int(want["health"]["events_in"]) == len(lines)  # the reference itself is complete

    points = list(KILL_POINTS)
    late = int(0.85 * len(lines))
    points[-1] = (points[-1][0], lambda h, _h0, _t: int(h.get("events_in", 0)) >= late, 0.0)
    hit = _run_with_kills(job_cmd(kafka_broker.bootstrap, topic, redis_server.url, model_dir, crash_ckpt,
                                  MAX_OFFSETS), job_env(crash_prefix), client, RedisKeys(crash_prefix),
                          tmp_path / "crash.log", points, random.Random(9))
    got = snapshot(client, crash_prefix)
    print(f"reference run {ref_seconds:.0f} s; kill points hit: {len(hit)}", *hit, sep="\n  ")
    assert len(hit) >= 5, hit

    # the assumption behind comparing as_of: both runs cut the topic into the same micro-batches
    assert batch_offsets(ref_ckpt, "scores") == batch_offsets(crash_ckpt, "scores")
    assert len(batch_offsets(ref_ckpt, "scores")) >= 15

    (tmp_path / "snapshots.json").write_text(json.dumps({"want": want, "got": got}, default=str))
    rename = lambda users: {k.split(":user:", 1)[1]: v for k, v in users.items()}  # noqa: E731
    diffs = _differences(rename(got["users"]), rename(want["users"]))
    assert not diffs, diffs[:10]
    assert [u for u, _ in got["ranking"]] == [u for u, _ in want["ranking"]] and got["churned"] == want["churned"]
    assert all(_close(a, b) for (_, a), (_, b) in zip(got["ranking"], want["ranking"]))
    assert want["churned"], "the log has churned users"
    assert got["health"] == want["health"]  # events_in, valid/hidden, dead_letters (+ per reason), clock_ms
    assert int(got["health"]["dead_letters"]) == len(BAD_LINES)
    assert Counter(map(_frozen, got["dead_letters"])) == Counter(map(_frozen, want["dead_letters"]))
    # no alert lost or duplicated: the same entries (ids aside), in the same order per user
    assert want["alerts"], "the model raises alerts on this log"
    assert _differences(_per_user(got["alerts"]), _per_user(want["alerts"])) == []
    # the monitoring: refreshes, cohorts, their labels and metrics, the pooled metrics and drift, exactly once
    assert _differences(_unpacked(got["raw"]), _unpacked(want["raw"])) == []
    resolved = [c for c in want["cohorts"].values() if c["cohort"].get("resolved") == "1"]
    assert len(want["cohorts"]) >= 10 and len(resolved) >= 5, (len(want["cohorts"]), len(resolved))
    assert _differences(got["cohorts"], want["cohorts"]) == []
    assert want["realized"] and _differences(got["realized"], want["realized"]) == []
    assert want["drift_history"] and _differences(got["drift_history"], want["drift_history"]) == []
    assert _differences(got["drift"], want["drift"]) == []
    assert set(got["importance"]) == set(want["importance"])
    for f, v in want["importance"].items():
        assert math.isclose(got["importance"][f], v, rel_tol=1e-9, abs_tol=1e-9), f


def _unpacked(raw: dict[str, str]) -> dict[str, list]:
    """The packed raw aggregates as numbers (NaN, a null aggregate, as None), to compare up to float rounding."""
    from contracts.raw_codec import unpack

    frame = unpack(list(raw), list(raw.values())).set_index("userId")
    return {u: [None if isinstance(v, float) and math.isnan(v) else v for v in row] for u, row in
            zip(frame.index, frame.itertuples(index=False))}


def _close(a: float, b: float) -> bool:
    """Equal up to float rounding: Spark merges partial sums in task-completion order, so two runs (crash or
    not) may differ in the last bits of a decayed sum; anything beyond 1e-9 relative is a real difference."""
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _differences(got, want, path: str = "") -> list[str]:
    """Where two JSON-like values differ: exact for everything but numbers (and numbers inside JSON strings)."""
    if isinstance(got, str) and isinstance(want, str) and got != want:
        for parse in (json.loads, float):
            try:
                return _differences(parse(got), parse(want), path)
            except (ValueError, TypeError):
                continue
        return [f"{path}: {got[:80]!r} != {want[:80]!r}"]
    if isinstance(got, dict) and isinstance(want, dict):
        if set(got) != set(want):
            return [f"{path}: keys {sorted(set(got) ^ set(want))[:5]}"]
        return [d for k in want for d in _differences(got[k], want[k], f"{path}/{k}")]
    if isinstance(got, (list, tuple)) and isinstance(want, (list, tuple)):
        if len(got) != len(want):
            return [f"{path}: {len(got)} items != {len(want)}"]
        return [d for i, (g, w) in enumerate(zip(got, want)) for d in _differences(g, w, f"{path}[{i}]")]
    if isinstance(got, (int, float)) and isinstance(want, (int, float)) and not isinstance(got, bool):
        return [] if _close(float(got), float(want)) else [f"{path}: {got!r} != {want!r}"]
    return [] if got == want else [f"{path}: {got!r} != {want!r}"]


def _frozen(d: dict) -> tuple:
    return tuple(sorted(d.items()))


def _per_user(alerts: list[dict]) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = defaultdict(list)
    for a in alerts:
        out[a["user"]].append(_frozen(a))
    return dict(out)
