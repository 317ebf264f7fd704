"""``replay --resume``: remember how far a replay got committed, and continue exactly there.

A small JSON state file holds ``acked``: the number of leading stream positions (see
``producer.stream``) that are done (sent in a committed Kafka transaction, or skipped on purpose). The
replay commits its transaction at each checkpoint (see ``producer.replay.run_replay``) and writes the
state atomically right after the commit, about once a second. After ``kill -9`` the open transaction is
aborted, by the broker after the transaction timeout or at once when the next replay with the same
transactional.id (:func:`transactional_id`: the same input, options and state file) starts, so none of
its records ever reaches a read_committed reader and a late request of the killed process is fenced.
The state can still lag the topic by one commit (killed between the commit and the write), so on resume,
once the old process is fenced, we read the tail of the topic (and of the dead-letter topic) with
read_committed: every record a replay sends carries a header ``sparkify-replay: <run id>:<position>``,
and the positions of this run found there are skipped too. What is missing is then, per partition, a
suffix of what was sent: re-sending it keeps per-key order.
"""
from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from contracts.settings import Settings

HEADER = "sparkify-replay"


@dataclass
class ReplayState:
    run_id: str
    acked: int = 0
    complete: bool = False
    identity: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def fresh(cls, identity: dict[str, Any]) -> "ReplayState":
        return cls(run_id=uuid.uuid4().hex[:12], identity=identity)


def identity_of(paths: Iterable[Path], topic: str, dead_letter_topic: str | None, bootstrap: str,
                options: dict[str, Any]) -> dict[str, Any]:
    """What makes two replays 'the same input': resolved files, destination and stream options."""
    return {"paths": [str(Path(p).resolve()) for p in paths], "topic": topic,
            "dead_letter_topic": dead_letter_topic, "bootstrap": bootstrap, "options": options}


def default_state_path(settings: Settings, identity: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    return Path(settings.local_state_dir) / "replay" / f"{digest}.json"


def transactional_id(identity: dict[str, Any], state_path: Path) -> str:
    """The replay's transactional.id: one per input, options and state file, the same across --resume.

    A replay started with the same arguments fences the previous one and aborts its open transaction.
    """
    key = json.dumps({"identity": identity, "state": str(Path(state_path).resolve())}, sort_keys=True)
    return f"sparkify-replay-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def load_state(path: Path) -> ReplayState | None:
    try:
        data = json.loads(path.read_text())
        return ReplayState(run_id=str(data["run_id"]), acked=int(data["acked"]),
                           complete=bool(data.get("complete")), identity=data.get("identity") or {})
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"replay state file {path} is unreadable ({exc}); delete it to start over") from None


def save_state(path: Path, state: ReplayState) -> None:
    """Atomic: a crash mid-write leaves the previous state, never a torn file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"run_id": state.run_id, "acked": state.acked, "complete": state.complete,
                               "identity": state.identity}, sort_keys=True))
    os.replace(tmp, path)




def delivered_after(settings: Settings, topics: Iterable[str], run_id: str, acked: int,
                    timeout: float = 10.0) -> set[int]:
    """Positions >= ``acked`` of run ``run_id`` already committed in the topics' tails.

    Reads each partition (read_committed) backwards in growing chunks until a record of this run below
    ``acked`` (or the start of the partition) is reached. Call it once no transaction of the run can still
    be open (the caller's producer has fenced earlier ones): read_committed reads stop at an open one.
    """
    from confluent_kafka import Consumer, TopicPartition

    from producer.kafka_out import client_config

    prefix = f"{run_id}:".encode()
    found: set[int] = set()
    consumer = Consumer({**client_config(settings), **settings.librdkafka_consumer_config(),
                         "group.id": f"replay-resume-{run_id}",
                         "enable.auto.commit": False, "enable.partition.eof": True,
                         "auto.offset.reset": "earliest", "fetch.wait.max.ms": 20})
    try:
        for topic in topics:
            meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
            if meta is None or meta.error:
                continue
            for p in sorted(meta.partitions):
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
                end, step = high, 4096
                while end > low:
                    start = max(low, end - step)
                    below = _scan(consumer, TopicPartition(topic, p, start), end, prefix, acked, found, timeout)
                    if below:
                        break
                    end, step = start, step * 2
    finally:
        consumer.close()
    return found


def _scan(consumer, tp, end: int, prefix: bytes, acked: int, found: set[int], timeout: float) -> bool:
    """Read offsets [tp.offset, end); add this run's positions >= acked; True if one < acked was seen."""
    from confluent_kafka import KafkaError, KafkaException

    import time

    consumer.assign([tp])
    below = False
    offset = tp.offset
    idle_deadline = time.monotonic() + timeout
    while offset < end:
        # consume() waits until the batch is full or the timeout ends: ask for no more than is left
        msgs = consumer.consume(min(10_000, end - offset), timeout=0.2)
        if not msgs:
            if time.monotonic() > idle_deadline:
                raise KafkaException(f"reading {tp.topic}[{tp.partition}] at offset {offset} timed out")
            continue
        idle_deadline = time.monotonic() + timeout
        for msg in msgs:
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    return below
                raise KafkaException(err)
            offset = msg.offset() + 1
            if msg.offset() >= end:
                return below
            for name, value in msg.headers() or ():
                if name == HEADER and value and value.startswith(prefix):
                    pos = int(value[len(prefix):])
                    if pos >= acked:
                        found.add(pos)
                    else:
                        below = True
    return below
