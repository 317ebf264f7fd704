"""Hostile input never crashes anything, every bad record is dead-lettered with its reason, good ones are unharmed.

Three levels: the Python validator (hypothesis, thousands of lines), the Spark parse against it (hypothesis,
lists of lines per Spark job) and a run through Kafka and ``python -m streaming`` of a fuzzed mix with a
simulated log, duplicates and late (out-of-order) events. ``TRIED`` counts the inputs; the totals print at the end.
"""
from __future__ import annotations

import json
import random
import uuid
from collections import Counter, defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from contracts.schema import MAX_LINE_BYTES, REQUIRED, TS_MAX_MS, TS_MIN_MS
from contracts.validation import REASONS, classify
from streaming.health import MAX_DEAD_LETTER_BYTES
from tests.reliability import fuzz
from tests.reliability.common import job_cmd, job_env, model_for_log, snapshot, start_job, wait_exit
from tests.reliability.conftest import HOSTILE_NOTES, HOSTILE_TRIED
from tests.streaming.helpers import log_lines, simulate_log

pytestmark = pytest.mark.reliability
TRIED: Counter = Counter()
NOTES: list[str] = []
FAST = settings(max_examples=1500, deadline=None, database=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module", autouse=True)
def report_tried(request):
    """The counts reach pytest's terminal summary (tests/reliability/conftest.py), so every run reports them."""
    request.config.stash[HOSTILE_TRIED] = TRIED
    request.config.stash[HOSTILE_NOTES] = NOTES
    yield
    print(f"\nhostile inputs tried: {dict(TRIED)} (total {sum(TRIED.values())})")


@FAST
@given(fuzz.lines)
def test_validator_never_raises_and_gives_a_reason_to_every_invalid_line(line):
    TRIED["validator"] += 1
    v = classify(line)
    assert v.status in ("valid", "hidden", "invalid")
    if v.status == "invalid":
        assert v.reason in REASONS and v.event is None
    else:
        assert v.reason is None and isinstance(v.event, dict)
    if len(line) > MAX_LINE_BYTES:
        assert v.reason == "too_large"
    else:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            assert v.reason == "bad_encoding"


@settings(max_examples=400, deadline=None, database=None)
@given(fuzz.missing)
def test_missing_required_field_is_missing_field(event):
    TRIED["validator"] += 1
    v = classify(json.dumps(event).encode())
    assert (v.reason == "missing_field") == any(name not in event for name in REQUIRED), event


@settings(max_examples=400, deadline=None, database=None)
@given(fuzz.unknown_page)
def test_unknown_page_is_unknown_page(event):
    TRIED["validator"] += 1
    assert classify(json.dumps(event).encode()).reason == "unknown_page"


@settings(max_examples=400, deadline=None, database=None)
@given(fuzz.good_events, st.one_of(st.integers(-2**63, TS_MIN_MS - 1), st.integers(TS_MAX_MS, 2**63 - 1)))
def test_timestamps_far_in_the_past_or_future_are_bad_values(event, ts):
    TRIED["validator"] += 1
    assert classify(json.dumps({**event, "ts": ts}).encode()).reason == "bad_value"


@settings(max_examples=400, deadline=None, database=None)
@given(fuzz.extra)
def test_extra_fields_do_not_invalidate_a_good_event(event):
    TRIED["validator"] += 1
    assert classify(json.dumps(event).encode()).status in ("valid", "hidden")


SPARK_LINES = 2400


def test_spark_parse_agrees_with_validator_on_fuzzed_lines(spark):
    """The bigger twin of tests/contracts/test_parsing.py: 2,400 hostile lines drawn by hypothesis, new ones each run
    (one line per example, see ``fuzz.drawn_lines``), classified by Spark in one job and compared record by record."""
    from contracts.parsing import classify_records

    drawn = fuzz.drawn_lines(SPARK_LINES, derandomize=False)
    values = list(drawn)
    kinds = Counter(v.reason or v.status for v in map(classify, values))
    assert len(set(values)) > SPARK_LINES // 2 and len(kinds) >= 8, kinds  # varied lines, most kinds of damage
    TRIED["spark_parse"] += len(values)
    df = spark.createDataFrame([(i, v) for i, v in enumerate(values)], "i long, value binary")
    got = [(r["verdict"], r["reason"]) for r in classify_records(df).select("i", "verdict", "reason").orderBy("i").collect()]
    want = [(v.status, v.reason) for v in map(classify, values)]
    assert len(got) == len(want)
    mismatches = [(values[i][:120], w, g) for i, (w, g) in enumerate(zip(want, got)) if w != g]
    assert not mismatches, f"{len(mismatches)} of {len(values)} differ; first: {mismatches[:5]}"


def test_trailing_data_after_the_object_is_dead_lettered_by_spark_too(spark):
    """Found by the end-to-end fuzz: 27 of 2,098 hostile lines were valid for the stream, not_json for the replay.
    A "}" inside a text value, a nested extra field and trailing whitespace are not trailing data."""
    from contracts.parsing import classify_records

    good = json.dumps(fuzz.GOOD).encode()
    values = [good + b"}", good + b" {}", good + b"\n{}", good + b"]}", good[:-1] + b',"x":{"y":1}}}',
              good + b"\r\n", good[:-1] + b',"note":"a}b"}', good[:-1] + b',"x":{"y":[1]}}']
    df = spark.createDataFrame([(i, v) for i, v in enumerate(values)], "i long, value binary")
    got = [r["reason"] for r in classify_records(df).select("i", "reason").orderBy("i").collect()]
    want = [classify(v).reason for v in values]
    assert want == ["not_json"] * 5 + [None] * 3
    assert got == want, got


# ---- end to end: Kafka -> python -m streaming -> Redis ------------------------------------------------------------

def _produce(bootstrap: str, topic: str, lines: list[bytes]) -> None:
    """Every line as one record, keyed like the replay keys valid lines (a fixed key for the rest)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_request_size=1_048_576)
    for line in lines:
        v = classify(line)
        key = str(v.event.get("userId") or "").encode() if v.event else b"__invalid__"
        producer.send(topic, key=key, value=line)
    producer.flush()
    producer.close()


def test_fuzzed_mix_through_kafka_and_the_job(kafka_broker, redis_server, tmp_path):
    log = simulate_log(tmp_path / "sim.json", users=12, days=10, seed=11)
    good = log_lines(log)
    rng = random.Random(3)
    hostile = [x for x in fuzz.drawn_lines(2500)  # valid fuzz would move the clock
               if classify(x).status != "valid"]
    late = [good[i] for i in sorted(rng.sample(range(len(good) // 2), 60))]  # duplicates, arriving out of order
    mixed = good + late
    for bad in hostile:
        mixed.insert(rng.randrange(len(mixed) + 1), bad)
    TRIED["end_to_end"] += len(mixed)

    verdicts = [classify(x) for x in mixed]
    valid = [v.event for v in verdicts if v.status == "valid"]
    invalid = [(x, v.reason) for x, v in zip(mixed, verdicts) if v.status == "invalid"]
    assert len(invalid) > 1000 and len(late) == 60

    topic, prefix = f"fuzz-{uuid.uuid4().hex[:8]}", f"fuzz{uuid.uuid4().hex[:6]}"
    _produce(kafka_broker.bootstrap, topic, mixed)
    model_dir = model_for_log(log, tmp_path / "models")
    proc = start_job(job_cmd(kafka_broker.bootstrap, topic, redis_server.url, model_dir, tmp_path / "ckpt", 1500),
                     job_env(prefix), tmp_path / "job.log")
    assert wait_exit(proc, 900, tmp_path / "job.log") == 0, (tmp_path / "job.log").read_text()[-2000:]
    got = snapshot(redis_server.client(), prefix)

    health = got["health"]
    assert int(health["events_in"]) == len(mixed)
    assert int(health["valid_events"]) == len(valid)
    assert int(health["hidden_events"]) == sum(v.status == "hidden" for v in verdicts)
    assert int(health["dead_letters"]) == len(invalid)
    by_reason = Counter(reason for _, reason in invalid)
    assert {k.split(":", 1)[1]: int(v) for k, v in health.items() if k.startswith("dead_letters:")} == by_reason
    want_dead = Counter((x[:MAX_DEAD_LETTER_BYTES].decode("utf-8", "replace"), r) for x, r in invalid)
    assert Counter((d["value"], d["reason"]) for d in got["dead_letters"]) == want_dead

    # good records unaffected: every user's count and last event time are those of its valid events (duplicates
    # and late events included: they are valid events); the clock is the latest event time and never went back
    per_user: dict[str, list[int]] = defaultdict(list)
    for ev in valid:
        per_user[ev["userId"]].append(int(ev["ts"]))
    users = {k.split(":user:", 1)[1]: h for k, h in got["users"].items()}
    assert set(users) == set(per_user)
    for uid, ts in per_user.items():
        assert int(users[uid]["n_events"]) == len(ts), uid
        assert int(users[uid]["last_ts"]) == max(ts), uid
    assert int(health["clock_ms"]) == max(max(ts) for ts in per_user.values())
    churned = {ev["userId"] for ev in valid if ev["page"] == "Cancellation Confirmation"}
    assert {u for u, _ in got["churned"]} == churned
    NOTES.append(f"end to end: {len(mixed):,} records ({len(good):,} log lines, {len(late)} duplicated late events, "
                 f"{len(hostile):,} hostile lines), {len(invalid):,} dead letters by reason {dict(by_reason.most_common())}")
    print(f"\n{NOTES[-1]}")
