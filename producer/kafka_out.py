"""The Kafka side of replay: a no-loss, high-throughput producer, topic creation, a reachability check.

No-loss: idempotence (no duplicate or reordering on retry), ``acks=all``, unlimited retries within the
delivery timeout, at most 5 requests in flight (the most idempotence allows while keeping order).
The replay also makes its producer transactional (:class:`Transactions`): the broker keeps the state of a
producer with an open transaction across a restart, whatever the records' timestamps, so a retried request
is still recognised as a duplicate (see ``producer.replay``).
Throughput: large batches, a few ms of linger, lz4 compression (chosen by ``benchmarks/bench_producer.py``).
The partitioner is ``murmur2_random``, the Java client's, so a userId lands on the same partition whoever
produces it. librdkafka's own log lines are silenced: problems surface as one-line errors instead.
"""
from __future__ import annotations

import logging
import time
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


#: transaction.timeout.ms of the replay's producer. librdkafka requires ``delivery.timeout.ms`` (its
#: ``message.timeout.ms``) <= this, and the broker's ``transaction.max.timeout.ms`` (15 min) >= it. A transaction
#: left open by a killed replay holds back read_committed consumers of its partitions until the broker aborts it
#: after this long, or until a replay with the same transactional.id (``--resume``, or any rerun of the same
#: command) starts and aborts it at once.
TRANSACTION_TIMEOUT_MS = PRODUCER_TUNING["delivery.timeout.ms"]


class BrokerUnreachable(RuntimeError):
    """No broker answered within the timeout; the message is one line."""


class TransactionLost(RuntimeError):
    """The open transaction cannot commit (a record failed, the coordinator aborted it after a long outage,
    another process took over the transactional.id): its records are invisible to read_committed readers.
    The message is one line."""


def client_config(settings: Settings) -> dict[str, Any]:
    """Connection and security settings shared by every librdkafka client we make."""
    return {**settings.librdkafka_config(), "logger": _QUIET}


def producer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    return {**client_config(settings), **PRODUCER_TUNING, **overrides}


def make_producer(settings: Settings, **overrides: Any):
    from confluent_kafka import Producer

    return Producer(producer_config(settings, **overrides))


def transactional_config(transactional_id: str) -> dict[str, Any]:
    return {"transactional.id": transactional_id, "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS}


class Transactions:
    """One open transaction at a time on a transactional producer: commit it and open the next, or give up.

    ``commit`` waits for a commit that the broker cannot complete right now (an outage shorter than the
    transaction timeout) by calling ``commit_transaction`` again, as librdkafka documents; anything else
    that stops the commit (a record failed, an abortable or fatal error) raises :class:`TransactionLost`.
    """

    def __init__(self, producer: Any, bootstrap: str) -> None:
        self.producer = producer
        self.bootstrap = bootstrap
        self.open = False

    def init(self, timeout: float) -> None:
        """Register the transactional.id; this fences an earlier producer of the same id and aborts its open
        transaction (so read_committed readers never see it and it no longer holds them back)."""
        from confluent_kafka import KafkaException

        try:
            self.producer.init_transactions(timeout)
        except KafkaException as exc:
            raise BrokerUnreachable(
                f"cannot start a Kafka transaction at {self.bootstrap} within {timeout:.0f} s ({_short(exc)}); the "
                f"replay needs a broker with transactions (a single broker: transaction.state.log.replication.factor"
                f"=1) and, with ACLs, WRITE on its transactional.id") from None

    def begin(self) -> None:
        self.producer.begin_transaction()
        self.open = True

    def commit(self, timeout: float) -> None:
        """Commit the open transaction (everything produced must be delivered by now) within ``timeout`` s."""
        from confluent_kafka import KafkaException

        deadline = time.monotonic() + timeout
        while True:
            try:
                self.producer.commit_transaction(max(0.1, min(5.0, deadline - time.monotonic())))
                self.open = False
                return
            except KafkaException as exc:
                err = exc.args[0] if exc.args else None
                retriable = err is not None and err.retriable() and not err.txn_requires_abort() and not err.fatal()
                if not retriable or time.monotonic() >= deadline:
                    raise TransactionLost(f"the commit failed: {_short(exc)}") from None

    def abort(self, timeout: float = 10.0) -> Any:
        """Abort the open transaction, purging what is outstanding (reported as purged). Best effort: after a
        fatal error the producer can do nothing more, and the broker aborts the transaction by itself.

        Returns the error the abort raised (a ``KafkaError``), or None. After a fatal error it is that error's
        cause (e.g. the producer fenced), where ``produce`` only says "Local: Fatal error".
        """
        from confluent_kafka import KafkaException

        if not self.open:
            return None
        error = None
        try:
            self.producer.abort_transaction(timeout)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            try:
                self.producer.purge()
            except KafkaException:
                pass
        self.open = False
        return error


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
