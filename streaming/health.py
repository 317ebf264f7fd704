"""Every write the streaming job makes to the stream-health hash, in one class.

The health hash (``{p}:health``, fields in :class:`contracts.redis_keys.StreamHealth`) is written piecewise:

- the event-time clock: the latest event time the job has scored. Every partition of a micro-batch scores its
  users as of the clock before the batch, moved to the latest event time among its own users
  (:func:`streaming.scoring.score_partitions`); after the batch the clock moves to the latest of them, never
  back. A batch that runs again after a crash must start from the same clock-before as its first run, although
  the clock may already include the batch's own events: so the clock-before is recorded with the batch's tag and
  read back when the same tag comes again (``lua/clock_before.lua``, ``lua/clock_advance.lua``);
- the cumulative counts of hidden records and dead letters by reason, and the totals (``lua/counts.lua``); valid
  events are counted by the user write itself (:mod:`contracts.user_writer`), in the script that writes them,
  which is what makes that count exact under batch replay;
- a batch's dead letters into the dead-letter stream, once per batch id (``lua/dead_letters.lua``);
- a batch's summary, the query's progress, when the query started.

The scripts are registered once per writer (one writer per job).
"""
from __future__ import annotations

import time
from typing import Any

from contracts.redis_client import register, with_retry
from contracts.redis_keys import PARTITION_CLOCK_PREFIX, HealthField, RedisKeys, StreamHealth
from streaming.kinds import count_fields

#: Raw values are truncated in the Redis dead-letter stream (the Kafka dead-letter topic keeps them whole).
MAX_DEAD_LETTER_BYTES = 2048
#: Dead letters of one batch kept in the Redis stream at most; all of them are counted regardless.
MAX_DEAD_LETTERS_PER_BATCH = 10_000


def _now_ms() -> int:
    return int(time.time() * 1000)


class HealthWriter:
    """The streaming job's writes to ``{p}:health`` (and, with a batch's dead letters, ``{p}:deadletters``)."""

    def __init__(self, client: Any, keys: RedisKeys):
        self.client = client
        self.keys = keys
        self._clock_before = register(client, "streaming", "clock_before")
        self._clock_advance = register(client, "streaming", "clock_advance")
        self._partition_clocks = register(client, "streaming", "partition_clocks")
        self._counts = register(client, "streaming", "counts")
        self._dead_letters = register(client, "streaming", "dead_letters")

    # ---- the event-time clock ------------------------------------------------------------------------
    def clock_before(self, tag: str) -> int:
        """The clock before the batch ``tag`` (unique per checkpoint and batch id): recorded once, then read
        back; -1 before any event."""
        return int(with_retry(lambda: self._clock_before(keys=[self.keys.health], args=[tag])))

    def advance_clock(self, event_time_ms: int) -> int:
        """Move the clock to ``event_time_ms`` if that is later; returns the clock."""
        return int(with_retry(lambda: self._clock_advance(keys=[self.keys.health], args=[event_time_ms])))

    def advance_partition_clocks(self, latest: dict[int, int]) -> int:
        """Move each Kafka partition's clock to its latest event time; returns the smallest over all partitions
        seen (-1 before any): the time up to which every partition has been read."""
        args: list = [PARTITION_CLOCK_PREFIX]
        for partition, ts in sorted(latest.items()):
            args += [PARTITION_CLOCK_PREFIX + str(int(partition)), int(ts)]
        return int(with_retry(lambda: self._partition_clocks(keys=[self.keys.health], args=args)))

    # ---- the refresh ---------------------------------------------------------------------------------
    def record_refresh(self, as_of: int, users: int, shap_users: int, elapsed_ms: int) -> None:
        record = StreamHealth(refresh_as_of_ms=as_of, refresh_users=users, refresh_shap_users=shap_users,
                              refresh_ms=elapsed_ms, active_users=users)
        with_retry(lambda: self.client.hset(self.keys.health, mapping=record.to_hash()))

    def record_score_age(self, age_ms: int) -> None:
        with_retry(lambda: self.client.hset(self.keys.health, mapping=StreamHealth(max_score_age_ms=age_ms).to_hash()))

    # ---- counts and dead letters ---------------------------------------------------------------------
    def record_counts(self, kind_counts: dict[str, int]) -> int:
        """Store the cumulative counts per kind (:mod:`streaming.kinds`) and recompute the totals; returns
        events_in."""
        argv: list[Any] = []
        for name, n in count_fields(kind_counts).items():
            argv += [name, n]
        return int(with_retry(lambda: self._counts(keys=[self.keys.health], args=argv)))

    def record_dead_letters(self, batch_id: int, dead_letters: list[tuple[bytes, str, int, int]],
                            maxlen: int) -> bool:
        """Add one batch's (value, reason, partition, offset) dead letters to the stream once; False when that
        batch was already recorded."""
        argv: list[Any] = [batch_id, maxlen]
        for value, reason, partition, offset in dead_letters:
            text = bytes(value or b"")[:MAX_DEAD_LETTER_BYTES].decode("utf-8", "replace")
            argv += [text, reason, partition, offset]
        return bool(with_retry(lambda: self._dead_letters(keys=[self.keys.health, self.keys.dead_letters],
                                                          args=argv)))

    # ---- batches and progress ------------------------------------------------------------------------
    def record_batch(self, batch_id: int, batch_ms: int, users: int, written: int) -> None:
        """A finished batch: its id, duration and users scored; ``written`` adds to the running count."""
        summary = StreamHealth(batch_id=batch_id, batch_ms=batch_ms, last_batch_wall_ms=_now_ms(),
                               last_batch_users=users)
        pipe = self.client.pipeline()
        pipe.hset(self.keys.health, mapping=summary.to_hash())
        pipe.hincrby(self.keys.health, HealthField.USERS_SCORED, written)
        with_retry(pipe.execute)

    def record_progress(self, events_per_s: float, input_per_s: float, lag: int, trigger_ms: int) -> None:
        """The query's last progress report. Informative only: retried briefly, never for long."""
        progress = StreamHealth(events_per_s=events_per_s, input_per_s=input_per_s, lag=lag, trigger_ms=trigger_ms)
        with_retry(lambda: self.client.hset(self.keys.health, mapping=progress.to_hash()), retry_for_s=5)

    def mark_started(self) -> None:
        """When the query started (the benchmark measures from here, excluding Spark's start-up)."""
        started = StreamHealth(query_started_ms=_now_ms())
        with_retry(lambda: self.client.hset(self.keys.health, mapping=started.to_hash()))
