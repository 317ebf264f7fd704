"""Intake accounting inside the one streaming query: counts by verdict, dead letters, users' display names.

The job reads and parses each Kafka record once. Records that are not valid user events are not dropped before
the aggregation: they are grouped under a ``kind`` (``hidden`` or ``invalid:<reason>``; null for user events),
so the stateful aggregation that keeps each user's raw aggregates also keeps, per kind, the cumulative count of
records (``n_events``). Those counts are absolute, so writing them is idempotent under batch replay; valid events
are counted by the user writes themselves (see :mod:`streaming.redis_sink`).

What the aggregation cannot hold is text (a string in the aggregation buffer costs Spark its hash aggregation):
the raw value of a dead letter and a user's name and location. So a batch that brings dead letters is read again
from Kafka, over exactly that batch's offsets (from the query's offset log); and the aggregation keeps each
user's latest Kafka position (:data:`POSITION`, a long), from which the records of users whose hash has no name
yet are fetched, per partition in offset order.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from contracts.parsing import classify_records
from contracts.redis_keys import RedisKeys
from streaming.redis_sink import with_retry
from streaming.scoring import KIND, POSITION

#: Raw values are truncated in the Redis dead-letter stream (the Kafka dead-letter topic keeps them whole).
MAX_DEAD_LETTER_BYTES = 2048
#: Dead letters of one batch kept in the Redis stream at most; all of them are counted regardless.
MAX_DEAD_LETTERS_PER_BATCH = 10_000
HIDDEN = "hidden"
INVALID = "invalid:"
#: Aggregated beside the raw aggregates (column POSITION): max(partition * 2^40 + offset), the user's latest
#: record in Kafka.
_OFFSET_BITS = 40

# KEYS: 1 health hash. ARGV: (field, cumulative count) pairs from Spark's state.
# Counts only grow, so a replayed (older) value never lowers one; the totals are recomputed from the parts.
COUNTS_LUA = r"""
for i = 1, #ARGV, 2 do
  local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0')
  if tonumber(ARGV[i + 1]) > cur then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
local h = redis.call('HGETALL', KEYS[1])
local dead, valid, hidden = 0, 0, 0
for i = 1, #h, 2 do
  if string.sub(h[i], 1, 13) == 'dead_letters:' then dead = dead + tonumber(h[i + 1])
  elseif h[i] == 'valid_events' then valid = tonumber(h[i + 1])
  elseif h[i] == 'hidden_events' then hidden = tonumber(h[i + 1]) end
end
redis.call('HSET', KEYS[1], 'dead_letters', dead, 'events_in', valid + hidden + dead)
return valid + hidden + dead
"""

# KEYS: 1 health hash, 2 dead-letter stream. ARGV: 1 batch id, 2 stream maxlen, then (value, reason, partition,
# offset) quadruples. The batch id is recorded in the same script, so a replayed batch adds nothing twice.
DEAD_LETTERS_LUA = r"""
local last = tonumber(redis.call('HGET', KEYS[1], 'dead_letter_batch') or '-1')
if tonumber(ARGV[1]) <= last then return 0 end
for i = 3, #ARGV, 4 do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'value', ARGV[i], 'reason', ARGV[i + 1],
             'partition', ARGV[i + 2], 'offset', ARGV[i + 3])
end
redis.call('HSET', KEYS[1], 'dead_letter_batch', ARGV[1])
return 1
"""


def grouping(classified: DataFrame) -> DataFrame:
    """The classified records as the aggregation groups them: ``kind`` and ``userId`` keys, the event columns.

    ``ts`` is kept for valid events only: an invalid record's timestamp may be any long, and the aggregates'
    arithmetic on it would overflow (an error, not a dead letter, under ANSI SQL).
    """
    verdict = F.col("verdict")
    kind = (F.when(verdict == "valid", F.lit(None).cast("string"))
            .when(verdict == "hidden", F.lit(HIDDEN))
            .otherwise(F.concat(F.lit(INVALID), F.col("reason"))))
    valid = verdict == "valid"
    events = [c for c in classified.columns if c not in ("userId", "ts")]
    position = F.col("partition").cast("long") * F.lit(1 << _OFFSET_BITS) + F.col("offset")
    return classified.select(kind.alias(KIND), F.when(valid, F.col("userId")).alias("userId"),
                             F.when(valid, F.col("ts")).alias("ts"), position.alias(POSITION), *events)


def position_column():
    """The aggregate of :data:`POSITION` (the user's latest record in Kafka)."""
    return F.max(POSITION).alias(POSITION)


def count_fields(kind_counts: dict[str, int]) -> dict[str, int]:
    """Health-hash fields of the cumulative counts per kind: hidden_events, dead_letters:<reason>."""
    out = {}
    for kind, n in kind_counts.items():
        out["hidden_events" if kind == HIDDEN else "dead_letters:" + kind[len(INVALID):]] = int(n)
    return out


def record_counts(client: Any, keys: RedisKeys, kind_counts: dict[str, int]) -> int:
    """Store the cumulative counts and recompute the totals; returns events_in."""
    argv: list[Any] = []
    for field, n in count_fields(kind_counts).items():
        argv += [field, n]
    script = client.register_script(COUNTS_LUA)
    return int(with_retry(lambda: script(keys=[keys.health], args=argv)))


def record_dead_letters(client: Any, keys: RedisKeys, batch_id: int, dead_letters: list[tuple[bytes, str, int, int]],
                        maxlen: int) -> bool:
    """Add one batch's dead letters to the stream once; False when that batch was already recorded."""
    argv: list[Any] = [batch_id, maxlen]
    for value, reason, partition, offset in dead_letters:
        text = bytes(value or b"")[:MAX_DEAD_LETTER_BYTES].decode("utf-8", "replace")
        argv += [text, reason, partition, offset]
    script = client.register_script(DEAD_LETTERS_LUA)
    return bool(with_retry(lambda: script(keys=[keys.health, keys.dead_letters], args=argv)))


# ---- reading a batch again -------------------------------------------------------------------------------

def _source_offsets(path: Path) -> dict[str, dict[str, int]]:
    """The Kafka offsets in an offset-log entry (``offsets/<batch>``: "v1", metadata, one line per source) or in
    the source's initial-offsets file (``sources/0/0``): the last line is the one Kafka source's JSON."""
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    return {t: {p: int(o) for p, o in parts.items()} for t, parts in json.loads(lines[-1]).items()}


def batch_offsets(checkpoint: Path, batch_id: int) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """(start, end) Kafka offsets of a micro-batch, from the query's checkpoint.

    Spark writes a batch's end offsets to ``offsets/<id>`` before running it; the batch starts where the one
    before it ended, or, for the first batch, at the offsets the source recorded when the query first started.
    """
    end = _source_offsets(checkpoint / "offsets" / str(batch_id))
    before = checkpoint / "offsets" / str(batch_id - 1)
    start = _source_offsets(before if before.exists() else checkpoint / "sources" / "0" / "0")
    return start, end


def read_batch(spark: SparkSession, kafka_options: dict[str, str], start: dict, end: dict) -> DataFrame:
    """The batch's Kafka records again (a batch read of exactly its offsets); a partition new since the batch
    before starts at its beginning."""
    starting = {t: {p: start.get(t, {}).get(p, -2) for p in parts} for t, parts in end.items()}
    assign = {t: [int(p) for p in parts] for t, parts in end.items()}
    return (spark.read.format("kafka").options(**kafka_options).option("assign", json.dumps(assign))
            .option("startingOffsets", json.dumps(starting)).option("endingOffsets", json.dumps(end))
            .option("failOnDataLoss", "false").load())


def dead_letters(records: DataFrame) -> DataFrame:
    """Invalid records of a batch read again: key, raw value, reason, partition, offset."""
    return (classify_records(records).where(F.col("verdict") == "invalid")
            .select("key", "value", "reason", "partition", "offset"))


#: In :func:`fetch_profiles`, a gap of at most this many records to the next wanted one is read through rather
#: than sought over: a seek costs a fetch round trip (~4 ms here), reading a record in a batch ~1-2 µs.
READ_THROUGH_RECORDS = 2_000


def fetch_profiles(kafka_config: dict[str, Any], topic: str, positions: list[tuple[str, int]],
                   timeout_s: float = 10.0) -> list[tuple[str, str, str]]:
    """(userId, name, location) of users from the Kafka record at their :data:`POSITION`.

    Per partition in offset order: close positions (the first batches of a stream name every user, thousands
    of them within a few million records) are read through in batches, far ones are sought, so the cost is
    about one round trip per far position rather than one per user. A record that cannot be fetched leaves that
    user nameless until their next batch.
    """
    from confluent_kafka import Consumer

    by_partition: dict[int, list[tuple[int, str]]] = {}
    for uid, position in positions:
        by_partition.setdefault(position >> _OFFSET_BITS, []).append((position & ((1 << _OFFSET_BITS) - 1), uid))
    out = []
    consumer = Consumer({**kafka_config, "group.id": "sparkify-profiles", "enable.auto.commit": False,
                         "enable.partition.eof": False, "fetch.wait.max.ms": 10})
    try:
        for partition, wanted in sorted(by_partition.items()):
            for uid, event in _read_positions(consumer, topic, partition, sorted(wanted), timeout_s):
                name = " ".join(p for p in (event.get("firstName"), event.get("lastName")) if p).strip()
                out.append((uid, name, event.get("location") or ""))
    finally:
        consumer.close()
    return out


def _read_positions(consumer: Any, topic: str, partition: int, wanted: list[tuple[int, str]], timeout_s: float):
    """Yield (userId, event) for the wanted (offset, userId) pairs of one partition, sorted by offset."""
    from confluent_kafka import TopicPartition

    i, next_offset = 0, None  # next_offset: where the consumer stands (None: not assigned yet)
    while i < len(wanted):
        target = wanted[i][0]
        if next_offset is None or not 0 <= target - next_offset <= READ_THROUGH_RECORDS:
            consumer.assign([TopicPartition(topic, partition, target)])
            next_offset = target
        last_wanted = wanted[i][0]
        for j in range(i, len(wanted)):  # read through the run of close positions in one go
            if wanted[j][0] - last_wanted > READ_THROUGH_RECORDS:
                break
            last_wanted = wanted[j][0]
        msgs = consumer.consume(num_messages=min(last_wanted - next_offset + 1, 10_000), timeout=timeout_s)
        good = [m for m in msgs if not m.error()]
        if not good:  # nothing arrived in time: give up on the position in hand
            i, next_offset = i + 1, None
            continue
        for m in good:
            while i < len(wanted) and wanted[i][0] < m.offset():  # not in the log (compacted, or a marker)
                i += 1
            if i < len(wanted) and wanted[i][0] == m.offset():
                try:
                    event = json.loads(m.value())
                except ValueError:
                    event = None
                while i < len(wanted) and wanted[i][0] == m.offset():
                    if isinstance(event, dict):
                        yield wanted[i][1], event
                    i += 1
        next_offset = good[-1].offset() + 1


def write_dead_letters_to_kafka(invalid: DataFrame, options: dict[str, str], topic: str) -> None:
    """Whole raw values to a Kafka topic, the reason in a record header."""
    (invalid.select(
        F.col("key"), F.col("value"),
        F.array(F.struct(F.lit("reason").alias("key"), F.col("reason").cast("binary").alias("value"))).alias("headers"))
     .write.format("kafka").options(**options).option("topic", topic).option("includeHeaders", "true").save())


def write_profiles(client: Any, keys: RedisKeys, rows: list[tuple[str, str, str]]) -> None:
    """Display text of users (never features) into their hashes."""
    def write() -> None:
        pipe = client.pipeline(transaction=False)
        for uid, name, location in rows:
            pipe.hset(keys.user(uid), mapping={"name": name, "location": location})
        pipe.execute()

    with_retry(write)
