"""Users' display text (name, location), read from the Kafka record at their latest position.

The stateful aggregation keeps no text (see :mod:`streaming.kinds`), only each user's latest Kafka position; the
users whose hash has no name yet are fetched from there, per partition in offset order, and their names written
into their hashes (display text only, never a feature). :class:`ProfileFetcher` does it beside the next batch.
"""
from __future__ import annotations

import json
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Sequence

from contracts.redis_client import with_retry
from contracts.redis_keys import RedisKeys, UserProfile
from contracts.schema import display_name
from streaming.kinds import partition_and_offset

log = logging.getLogger("streaming")

#: A gap of at most this many records to the next wanted one is read through rather than sought over: a seek
#: costs a fetch round trip and drops what the consumer had fetched ahead, reading a record costs a few µs.
READ_THROUGH_RECORDS = 500
#: Bytes fetched per partition and request. Small, because a seek drops what was fetched ahead: with the consumer's
#: default (1 MB) the names of 2,000 users spread over 2M records took about 3x as long (docs/benchmarks.md).
FETCH_BYTES = 64 << 10


def fetch_profiles(kafka_config: dict[str, Any], topic: str, positions: list[tuple[str, int]],
                   timeout_s: float = 10.0) -> list[tuple[str, UserProfile]]:
    """(userId, profile) of users from the Kafka record at their position (see :data:`streaming.kinds.POSITION`).

    Per partition in offset order: close positions (the first batches of a stream name every user, thousands
    of them within a few million records) are read through in batches, far ones are sought, so the cost is
    about one round trip per far position rather than one per user. A record that cannot be fetched leaves that
    user nameless until their next batch.
    """
    from confluent_kafka import Consumer

    by_partition: dict[int, list[tuple[int, str]]] = {}
    for uid, position in positions:
        partition, offset = partition_and_offset(position)
        by_partition.setdefault(partition, []).append((offset, uid))
    out = []
    consumer = Consumer({**kafka_config, "group.id": "sparkify-profiles", "enable.auto.commit": False,
                         "enable.partition.eof": False, "fetch.wait.max.ms": 10,
                         "max.partition.fetch.bytes": FETCH_BYTES})
    try:
        for partition, wanted in sorted(by_partition.items()):
            for uid, event in _read_positions(consumer, topic, partition, sorted(wanted), timeout_s):
                out.append((uid, UserProfile(display_name(event), event.get("location") or "")))
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


def write_profiles(client: Any, keys: RedisKeys, profiles: list[tuple[str, UserProfile]],
                   done: Sequence[str] = ()) -> None:
    """Display text of users into their hashes; ``done``: users no longer waiting (see :attr:`RedisKeys.unnamed`)."""
    def write() -> None:
        pipe = client.pipeline(transaction=False)
        for uid, profile in profiles:
            pipe.hset(keys.user(uid), mapping=profile.to_hash())
        if done:
            pipe.hdel(keys.unnamed, *done)
        pipe.execute()

    with_retry(write)


class ProfileFetcher:
    """New users' names fetched and written on one background thread, one batch's users at a time.

    Reading Kafka again is Python work of seconds in a stream's first batches (every user is new), and nothing in
    the next batch depends on it, so it runs beside the next batch's Spark job rather than between batches. The
    users are first recorded in Redis (:attr:`RedisKeys.unnamed`) and removed once their names are written: a
    crash after the batch commits leaves them recorded, and :meth:`resume` fetches them at the next start. A fetch
    that fails is raised at the next :meth:`submit` or :meth:`close`, failing the batch as a synchronous one would.
    """

    def __init__(self, client: Any, keys: RedisKeys, kafka_config: dict[str, Any], topic: str):
        self.client = client
        self.keys = keys
        self.kafka_config = kafka_config
        self.topic = topic
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="profiles")
        self._in_flight: Future | None = None

    def resume(self) -> int:
        """Fetch the users a previous run recorded and did not name (after a crash); how many there were."""
        recorded = with_retry(lambda: self.client.hgetall(self.keys.unnamed))
        waiting = [(uid, int(pos)) for uid, pos in recorded.items()]
        if waiting:
            self._start(waiting)
        return len(waiting)

    def submit(self, unnamed: list[tuple[str, int]]) -> int:
        """After the fetch in flight ends, record ``(userId, position)`` pairs and fetch them in the background;
        the milliseconds spent waiting for the one in flight."""
        if not unnamed:
            return 0
        waited = self.wait()
        with_retry(lambda: self.client.hset(self.keys.unnamed, mapping=dict(unnamed)))
        self._start(unnamed)
        return waited

    def wait(self) -> int:
        """Wait for the fetch in flight (raising what it raised); the milliseconds waited."""
        started = time.monotonic()
        if self._in_flight is not None:
            in_flight, self._in_flight = self._in_flight, None
            in_flight.result()
        return int((time.monotonic() - started) * 1000)

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._worker.shutdown(wait=True)

    def _start(self, unnamed: list[tuple[str, int]]) -> None:
        self._in_flight = self._worker.submit(self._fetch_and_write, unnamed)

    def _fetch_and_write(self, unnamed: list[tuple[str, int]]) -> None:
        started = time.monotonic()
        found = fetch_profiles(self.kafka_config, self.topic, unnamed)
        write_profiles(self.client, self.keys, found, done=[uid for uid, _ in unnamed])
        log.debug("%d unnamed users, %d names found in %d ms", len(unnamed), len(found),
                  int((time.monotonic() - started) * 1000))
