"""The intake query's per-batch work: count records by verdict and keep dead letters aside.

Every record Kafka delivers is counted (valid, hidden, invalid by reason) in the stream-health hash, and every
invalid record goes to the dead-letter sink with its raw value and reason. The batch id is recorded in the same
Redis transaction (a Lua script), so a batch Spark replays after a crash is not counted or dead-lettered twice.
"""
from __future__ import annotations

from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from contracts.redis_keys import RedisKeys
from streaming.redis_sink import with_retry

#: Raw values are truncated in the Redis dead-letter stream (the Kafka dead-letter topic keeps them whole).
MAX_DEAD_LETTER_BYTES = 2048
#: Dead letters of one batch kept in the Redis stream at most; all of them are counted regardless.
MAX_DEAD_LETTERS_PER_BATCH = 10_000

# KEYS: 1 health hash, 2 dead-letter stream
# ARGV: 1 batch id, 2 stream maxlen, 3 number of counter pairs, then (field, increment) pairs,
#       then (value, reason, partition, offset) quadruples
INTAKE_LUA = r"""
local last = tonumber(redis.call('HGET', KEYS[1], 'intake_batch') or '-1')
local batch = tonumber(ARGV[1])
if batch <= last then return 0 end
local n = tonumber(ARGV[3])
local i = 4
for _ = 1, n do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
  i = i + 2
end
while i <= #ARGV do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'value', ARGV[i], 'reason', ARGV[i + 1],
             'partition', ARGV[i + 2], 'offset', ARGV[i + 3])
  i = i + 4
end
redis.call('HSET', KEYS[1], 'intake_batch', ARGV[1])
return 1
"""


def batch_summary(batch: DataFrame) -> tuple[dict[str, int], list[tuple[str, str, str]]]:
    """Counters to add to the health hash, and (userId, name, location) of the batch's users from their latest
    event, in one aggregation over the batch (no cache of the raw records: caching them cost more than parsing).

    Grouping by the text columns (not aggregating them) keeps Spark's hash aggregation: a user's name and
    location rarely change, so this is about one row per user, plus one per (verdict, reason).
    """
    valid = F.col("verdict") == "valid"
    keys = [F.col("verdict"), F.col("reason")] + [F.when(valid, F.col(c)).alias(c)
                                                   for c in ("userId", "firstName", "lastName", "location")]
    rows = batch.groupBy(*keys).agg(F.count(F.lit(1)).alias("n"), F.max(F.when(valid, F.col("ts"))).alias("ts")).collect()
    counts: dict[str, int] = {"events_in": 0, "valid_events": 0, "hidden_events": 0, "dead_letters": 0}
    latest: dict[str, tuple[int, str, str]] = {}
    for r in rows:
        n = r["n"]
        counts["events_in"] += n
        if r["verdict"] == "valid":
            counts["valid_events"] += n
            if r["userId"] not in latest or r["ts"] > latest[r["userId"]][0]:
                name = " ".join(p for p in (r["firstName"], r["lastName"]) if p).strip()
                latest[r["userId"]] = (r["ts"], name, r["location"] or "")
        elif r["verdict"] == "hidden":
            counts["hidden_events"] += n
        else:
            counts["dead_letters"] += n
            key = f"dead_letters:{r['reason']}"
            counts[key] = counts.get(key, 0) + n
    return counts, [(uid, name, loc) for uid, (_, name, loc) in latest.items()]


def write_dead_letters_to_kafka(invalid: DataFrame, options: dict[str, str], topic: str) -> None:
    """Whole raw values to a Kafka topic, the reason in a record header."""
    (invalid.select(
        F.col("key"), F.col("value"),
        F.array(F.struct(F.lit("reason").alias("key"), F.col("reason").cast("binary").alias("value"))).alias("headers"))
     .write.format("kafka").options(**options).option("topic", topic).option("includeHeaders", "true").save())


def write_profiles(client: Any, keys: RedisKeys, profiles: list[tuple[str, str, str]]) -> None:
    """Display text of users (never features) into their hashes."""
    def write() -> None:
        pipe = client.pipeline(transaction=False)
        for uid, name, location in profiles:
            pipe.hset(keys.user(uid), mapping={"name": name, "location": location})
        pipe.execute()

    with_retry(write)


def record_batch(client: Any, keys: RedisKeys, batch_id: int, counts: dict[str, int],
                 dead_letters: list[tuple[bytes, str, int, int]], maxlen: int) -> bool:
    """Add the counters and the dead letters once per batch id; False when the batch was already recorded."""
    argv: list[Any] = [batch_id, maxlen, len(counts)]
    for field, inc in counts.items():
        argv += [field, inc]
    for value, reason, partition, offset in dead_letters:
        text = bytes(value or b"")[:MAX_DEAD_LETTER_BYTES].decode("utf-8", "replace")
        argv += [text, reason, partition, offset]
    script = client.register_script(INTAKE_LUA)
    return bool(with_retry(lambda: script(keys=[keys.health, keys.dead_letters], args=argv)))
