"""Record kinds: how the one streaming query counts records that are not a user's valid event.

The job reads and parses each Kafka record once. Records that are not valid user events are not dropped before
the aggregation: they are grouped under a ``kind`` (:data:`HIDDEN` or :data:`INVALID` + reason; null for user
events), so the stateful aggregation that keeps each user's raw aggregates also keeps, per kind, the cumulative
count of records (``n_events``). Those counts are absolute, so writing them is idempotent under batch replay.

What the aggregation cannot hold is text (a string in the aggregation buffer costs Spark its hash aggregation):
so each user's latest Kafka position (:data:`POSITION`, a long: partition and offset in one) is aggregated
instead, and a user's name is read again from there (:mod:`streaming.profiles`).
"""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from contracts.redis_keys import DEAD_LETTERS_PREFIX, HealthField

#: The grouping column that sets apart the rows that are not a user's valid event: null for users.
KIND = "kind"
HIDDEN = "hidden"
INVALID = "invalid:"
#: The raw-aggregate column with the user's latest Kafka position, passed through the scoring tasks.
POSITION = "last_position"
#: A position is partition * 2^OFFSET_BITS + offset.
OFFSET_BITS = 40


def position_of(partition: int, offset: int) -> int:
    return (partition << OFFSET_BITS) + offset


def partition_and_offset(position: int) -> tuple[int, int]:
    return position >> OFFSET_BITS, position & ((1 << OFFSET_BITS) - 1)


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
    position = F.col("partition").cast("long") * F.lit(1 << OFFSET_BITS) + F.col("offset")
    return classified.select(kind.alias(KIND), F.when(valid, F.col("userId")).alias("userId"),
                             F.when(valid, F.col("ts")).alias("ts"), position.alias(POSITION), *events)


def position_column():
    """The aggregate of :data:`POSITION` (the user's latest record in Kafka)."""
    return F.max(POSITION).alias(POSITION)


def is_invalid(kind: str) -> bool:
    return kind.startswith(INVALID)


def count_fields(kind_counts: dict[str, int]) -> dict[str, int]:
    """Health-hash fields of the cumulative counts per kind: ``hidden_events``, ``dead_letters:<reason>``."""
    out = {}
    for kind, n in kind_counts.items():
        out[HealthField.HIDDEN_EVENTS if kind == HIDDEN else DEAD_LETTERS_PREFIX + kind[len(INVALID):]] = int(n)
    return out
