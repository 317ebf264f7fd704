"""The Kafka side of replay: a no-loss, high-throughput producer, topic creation, a reachability check.

No-loss: idempotence (no duplicate or reordering on retry), ``acks=all``, unlimited retries within the
delivery timeout, at most 5 requests in flight (the most idempotence allows while keeping order).
Throughput: large batches, a few ms of linger, lz4 compression (chosen by ``benchmarks/bench_producer.py``).
The partitioner is ``murmur2_random``, the Java client's, so a userId lands on the same partition whoever
produces it. librdkafka's own log lines are silenced: problems surface as one-line errors instead.
"""
from __future__ import annotations

import logging
from typing import Any

from contracts.settings import Settings

#: seconds to wait for the broker before giving up with a one-line error
CONNECT_TIMEOUT_S = 10.0

_QUIET = logging.getLogger("producer.librdkafka")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False

PRODUCER_TUNING: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    "max.in.flight.requests.per.connection": 5,
    "retries": 2147483647,
    "delivery.timeout.ms": 120_000,
    "linger.ms": 20,
    "batch.size": 1_000_000,
    "batch.num.messages": 10_000,
    "compression.type": "lz4",
    "queue.buffering.max.messages": 500_000,
    "queue.buffering.max.kbytes": 512 * 1024,
    "partitioner": "murmur2_random",
}


class BrokerUnreachable(RuntimeError):
    """No broker answered within the timeout; the message is one line."""


def client_config(settings: Settings) -> dict[str, Any]:
    """Connection and security settings shared by every librdkafka client we make."""
    return {**settings.librdkafka_config(), "logger": _QUIET}


def producer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    return {**client_config(settings), **PRODUCER_TUNING, **overrides}


def make_producer(settings: Settings, **overrides: Any):
    from confluent_kafka import Producer

    return Producer(producer_config(settings, **overrides))


def ensure_topic(settings: Settings, topic: str, partitions: int, timeout: float = CONNECT_TIMEOUT_S) -> int:
    """Create ``topic`` with ``partitions`` partitions unless it exists; return its partition count.

    Doubles as the reachability check: raises :class:`BrokerUnreachable` when no broker answers.
    """
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(client_config(settings))
    try:
        meta = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise BrokerUnreachable(
            f"cannot reach Kafka at {settings.kafka_bootstrap} within {timeout:.0f} s "
            f"({_short(exc)}); is the broker up (`make services-up`) and SPARKIFY_KAFKA_BOOTSTRAP right?") from None
    if topic in meta.topics and not meta.topics[topic].error:
        return len(meta.topics[topic].partitions)
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=-1)],
                                  operation_timeout=timeout, request_timeout=timeout)
    try:
        futures[topic].result(timeout)
    except KafkaException as exc:
        if "TOPIC_ALREADY_EXISTS" not in str(exc):
            raise BrokerUnreachable(f"cannot create topic {topic!r}: {_short(exc)}") from None
    meta = admin.list_topics(topic, timeout=timeout)
    return len(meta.topics[topic].partitions)


def _short(exc: BaseException) -> str:
    err = exc.args[0] if exc.args else exc
    text = getattr(err, "str", lambda: str(err))()
    return text.splitlines()[0][:200] if text else type(exc).__name__
