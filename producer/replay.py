"""Replay event logs into Kafka: merged in event time, paced, keyed by user, nothing lost or doubled.

The record for one log line: key = ``userId`` (a hidden event, empty userId, gets the key
``__hidden__:<sessionId>`` so an anonymous session stays in order and hidden traffic spreads over
partitions), value = the line's bytes unchanged (``--loop`` passes > 0: only the ts number rewritten),
Kafka timestamp = the event's ts, header ``sparkify-replay: <run id>:<position>`` (used by ``--resume``).
Bad lines never reach the event topic; they are counted by reason and, with a dead-letter topic, sent
there with headers ``reason``, ``detail``, ``source``, ``lineno``.

Per-line work is one JSON decode and one ``produce`` call; batching, compression and delivery run in
librdkafka's threads. Successful deliveries are not reported one by one (``delivery.report.only.error``:
only failures call back into Python); they are confirmed in bulk by checkpoints (:func:`run_replay`), each
of which commits the Kafka transaction the records were sent in. Readers must use ``read_committed``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from contracts.settings import Settings
from producer.kafka_out import (TRANSACTION_TIMEOUT_MS, Transactions, TransactionLost, ensure_topic, make_producer,
                                transactional_config)
from producer.logfiles import expand_paths
from producer.merge import ReadStats, file_source
from producer.pacing import Pacer
from producer.progress import Progress, Summary
from producer.resume import (HEADER, ReplayState, default_state_path, delivered_after, identity_of, load_state,
                             save_state, transactional_id)
from producer.stream import Source, StreamOptions, items

HIDDEN_KEY_PREFIX = "__hidden__:"
OUTSIDE_WINDOW = "outside_window"
#: most seconds a checkpoint waits for the records in flight; on a healthy broker it takes milliseconds
CHECKPOINT_FLUSH_S = 0.5
#: most seconds the replay waits for its transactional producer to be registered (see run_replay)
INIT_TRANSACTIONS_TIMEOUT_S = 60.0
#: a checkpoint whose flush leaves records in flight does not commit; once the open transaction is this old, the
#: checkpoint waits for them instead (a longer pause), so that the transaction commits well within its timeout even
#: when the broker takes records more slowly than the replay hands them over
COMMIT_AT_LATEST_S = 30.0
#: most seconds a commit waits for a broker that cannot complete it now (e.g. restarting): past the transaction
#: timeout the broker aborts the transaction anyway
COMMIT_TIMEOUT_S = TRANSACTION_TIMEOUT_MS / 1000
#: produce()'s partition argument for "let the partitioner choose" (RD_KAFKA_PARTITION_UA). The hot path passes
#: every argument by position, (topic, value, key, partition, on_delivery, callback, timestamp, headers): with
#: keywords, confluent-kafka builds a dict and looks each name up, about 1 us a record.
ANY_PARTITION = -1
_NEVER = 1 << 62  # beyond any event time
#: librdkafka's error codes for records purged (never confirmed) by an abort
_PURGED = (-152, -151)  # KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT
#: error codes saying the broker moved the producer's epoch on: the coordinator aborted the transaction (open
#: longer than its timeout) or another producer took the transactional.id over
_FENCED = (47, 90, -144)  # INVALID_PRODUCER_EPOCH, PRODUCER_FENCED, KafkaError._FENCED


class StopFlag:
    """Set from a signal handler (or a timer); the send loop checks it between lines."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def set(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason


@dataclass
class ReplayOptions:
    paths: list[str]
    topic: str
    partitions: int
    speed: float | None = None
    rate: float | None = None
    stream: StreamOptions = field(default_factory=StreamOptions)
    dead_letter_topic: str | None = None
    resume: bool = False
    state_path: Path | None = None
    state_every_s: float = 1.0
    duration_s: float | None = None  # stop after this much wall time of sending
    flush_timeout_s: float = 60.0
    connect_timeout_s: float = 10.0
    parse_workers: int = 0  # processes validating lines of large inputs (0: in the main process, the default)
    producer_overrides: dict[str, Any] = field(default_factory=dict)
    #: instead of ``paths``: a generated input (e.g. the simulator) and what identifies it for --resume
    source: Source | None = None
    source_identity: dict[str, Any] | None = None


def hidden_key(event: dict[str, Any]) -> str:
    return f"{HIDDEN_KEY_PREFIX}{event.get('sessionId')}"


def run_replay(opts: ReplayOptions, settings: Settings, stop: StopFlag | None = None,
               progress: Progress | None = None, note: Callable[[str], None] = lambda s: None) -> Summary:
    """Send the logs; return the summary once everything sent is committed (or the transaction was lost).

    Records go out in Kafka transactions (one transactional.id per replay: :func:`transactional_id`), a
    new one begun at each checkpoint. About every ``state_every_s`` the loop flushes the producer; when the
    flush returns with nothing outstanding and no failure reported (only a failed delivery calls back into
    Python), every record produced so far was acknowledged: the transaction is committed, and only then
    does the state file advance to the positions handled. A checkpoint costs a pause of about two round
    trips to the broker, far less than a Python call per record.

    Why transactions: the broker forgets an idempotent producer whose last record timestamp is older than
    ``producer.id.expiration.ms`` when it restarts, and replayed records carry their (2018) event times, so a
    request retried after a broker restart would be appended twice; it never forgets a producer with an open
    transaction, and every record in flight is in the open transaction. Readers must use read_committed.

    A transaction that cannot commit (a record failed, the coordinator aborted it after an outage longer than
    the transaction timeout, another process took the transactional.id over) is aborted and the replay
    stops: ``summary.aborted`` says why, the state file holds the last commit, and ``--resume`` sends the rest.
    """
    from confluent_kafka import KafkaException

    stop = stop or StopFlag()
    paths = expand_paths(opts.paths) if opts.source is None else []
    source = opts.source or file_source(paths, opts.parse_workers)
    pacer = Pacer(speed=opts.speed, rate=opts.rate)
    topic, dlt = opts.topic, opts.dead_letter_topic
    if dlt == topic:
        raise ValueError(f"the dead-letter topic must differ from the event topic ({topic!r})")
    ensure_topic(settings, topic, opts.partitions, timeout=opts.connect_timeout_s)
    if dlt:
        ensure_topic(settings, dlt, opts.partitions, timeout=opts.connect_timeout_s)

    so = opts.stream
    identity = identity_of(paths, topic, dlt, settings.kafka_bootstrap,
                           {"from": so.from_ms, "until": so.until_ms, "limit": so.limit, "loop": so.loop,
                            **({"source": opts.source_identity} if opts.source_identity else {})})
    state_path = opts.state_path or default_state_path(settings, identity)
    summary = Summary(topic=topic, state_file=str(state_path))
    state, scan = _start_state(opts, identity, state_path, summary, note)
    save_state(state_path, state)  # the run id is on disk before the first record leaves

    # per topic: [failed, purged] records, from the only delivery reports that reach Python
    undelivered = {topic: [0, 0], dlt: [0, 0]}
    first_code = [0]

    def on_failure(err: Any, msg: Any) -> None:
        purged = err.code() in _PURGED
        which = dlt if dlt and msg.topic() == dlt else topic
        undelivered[which][purged] += 1
        if not purged:
            if which == topic:
                summary.failed += 1
            if summary.first_error is None:
                summary.first_error, first_code[0] = str(err), err.code()

    def record_failed() -> str | None:
        """Why the open transaction cannot commit when one of its records failed (None: none did)."""
        if undelivered[topic][0] or undelivered[dlt][0]:
            return f"a record failed ({summary.first_error})"
        return None

    producer = make_producer(settings, **{"delivery.report.only.error": True, "on_delivery": on_failure,
                                          **transactional_config(transactional_id(identity, state_path)),
                                          **opts.producer_overrides})
    txn = Transactions(producer, settings.kafka_bootstrap)
    # fences an earlier process of this replay (killed, or still running) and aborts its open transaction: the
    # topics' tails then hold only committed records, and a late request of that process is rejected
    # the broker is reachable (ensure_topic); the first transactional producer on a broker also waits for it to
    # create its transaction log, seconds on a busy machine
    txn.init(max(opts.connect_timeout_s, INIT_TRANSACTIONS_TIMEOUT_S))
    skip_below, found = state.acked, set()
    if opts.resume and summary.resumed_from is not None:
        if scan:
            topics = [topic] + ([dlt] if dlt else [])
            found = delivered_after(settings, topics, state.run_id, state.acked)
        summary.found_in_topic = len(found)
        note(f"resuming run {state.run_id}: {state.acked} positions done, {len(found)} more found in the topic")
    txn.begin()
    produce, poll = producer.produce, producer.poll
    run_id = state.run_id
    committed = [0, 0]  # events and dead letters sent in committed transactions
    began = [time.monotonic()]  # when the open transaction began

    def checkpoint(handled: int, sent_: int) -> None:
        """Positions < ``handled`` have all been handed to the producer (or skipped): commit them if we can."""
        overdue = time.monotonic() - began[0] >= COMMIT_AT_LATEST_S
        if producer.flush(COMMIT_TIMEOUT_S / 2 if overdue else CHECKPOINT_FLUSH_S):
            return  # still in flight (a slow or restarting broker): a later checkpoint commits them
        if failure := record_failed():
            raise TransactionLost(failure)
        txn.commit(COMMIT_TIMEOUT_S)
        committed[:] = sent_, summary.dead_lettered
        summary.acknowledged, summary.dead_letters_acknowledged = committed
        state.acked = max(state.acked, handled)
        save_state(state_path, state)
        txn.begin()
        began[0] = time.monotonic()

    def send(topic_: str, *args: Any, **kw: Any) -> None:
        while True:
            try:
                produce(topic_, *args, **kw)
                return
            except BufferError:  # local queue full: let librdkafka drain it
                poll(0.05)

    stats = ReadStats()
    total_bytes = None
    if paths and not so.loop and all(p.suffix != ".gz" for p in paths):
        total_bytes = sum(p.stat().st_size for p in paths)
    if progress is not None and progress.total is None:
        progress.total = so.limit or total_bytes
    by_events = so.limit is not None

    start = time.monotonic()
    last_save = start
    first_ts, last_ts = _NEVER, -_NEVER  # event time range of the records sent (sentinels until the first)
    exhausted = False

    def clock() -> int | None:
        return last_ts if last_ts != -_NEVER else None

    def tick(handled: int) -> None:
        """Between lines: positions < ``handled`` are handled."""
        nonlocal last_save
        now = time.monotonic()
        if progress is not None and progress.due():
            progress.update(summary, summary.sent if by_events else stats.bytes, clock())
        if now - last_save >= opts.state_every_s:
            checkpoint(handled, summary.sent)
            last_save = time.monotonic()
        if opts.duration_s is not None and now - start >= opts.duration_s:
            stop.set("duration")

    def wait(seconds: float, handled: int) -> None:
        deadline = time.monotonic() + seconds
        while stop.reason is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            poll(min(left, 0.05))
            tick(handled)

    sent = 0
    pos = -1
    hdr = run_id.encode() + b":"
    paced = pacer.paced
    duration_s = opts.duration_s
    try:
        for pos, action, ts, raw, verdict, origin, lineno in items(source, so, stats):
            if not pos & 1023:  # every 1024 lines: delivery reports, progress, checkpoint, stop (at most ~20 ms late)
                if not pos:  # the clock (rate, --duration, events/s) starts with the first line, not with start-up
                    start = time.monotonic()
                summary.sent = sent
                poll(0)
                tick(pos)
                if stop.reason is not None:
                    break
            if pos < skip_below or (found and pos in found):
                continue
            if action == "send":
                if paced:
                    delay = pacer.delay(ts)
                    if delay > 0:
                        summary.sent = sent
                        wait(delay, pos)  # checks --duration while it waits
                    elif duration_s is not None and time.monotonic() - start >= duration_s:
                        stop.set("duration")  # behind schedule (e.g. after a checkpoint): no wait, check here
                    if stop.reason is not None:
                        break
                event = verdict[1]
                key = event["userId"] or hidden_key(event)
                try:  # the hot path: one call, no wrapper, no per-record callback, no keyword arguments
                    produce(topic, raw, key, ANY_PARTITION, None, None, ts, [(HEADER, hdr + b"%d" % pos)])
                except BufferError:
                    send(topic, raw, key, ANY_PARTITION, None, None, ts, [(HEADER, hdr + b"%d" % pos)])
                sent += 1
                if ts > last_ts:
                    last_ts = ts
                if ts < first_ts:
                    first_ts = ts
            elif action == "invalid":
                reason, detail = verdict[2], verdict[3]
                summary.skipped[reason or "invalid"] += 1
                if dlt:
                    send(dlt, raw, None,
                         headers=[("reason", reason or ""), ("detail", (detail or "")[:200]),
                                  ("source", origin), ("lineno", str(lineno)),
                                  (HEADER, hdr + b"%d" % pos)])
                    summary.dead_lettered += 1
            else:
                summary.skipped[OUTSIDE_WINDOW] += 1
        else:
            exhausted = stop.reason is None
            pos += 1  # every position was handled
        handled = pos  # positions < handled were handed to the producer or skipped
        summary.sent = sent

        deadline = time.monotonic() + opts.flush_timeout_s
        while len(producer) and time.monotonic() < deadline:
            producer.flush(min(1.0, max(0.0, deadline - time.monotonic())))
            if progress is not None and progress.due():
                progress.update(summary, summary.sent if by_events else stats.bytes, clock())
        if failure := record_failed():
            raise TransactionLost(failure)
        if len(producer):
            raise TransactionLost(f"{len(producer)} records still unconfirmed after {opts.flush_timeout_s:g} s")
        txn.commit(COMMIT_TIMEOUT_S)
        committed[:] = sent, summary.dead_lettered
        state.acked = max(state.acked, handled)
    except (TransactionLost, KafkaException) as exc:
        # the open transaction cannot commit: abort it (its records are purged or hidden from read_committed
        # readers) and stop; the state file keeps the last commit, where --resume continues
        try:
            poll(0)  # serve the delivery reports still queued: a failed record is the likelier cause
        except KafkaException:
            pass
        failed = record_failed()
        cause = failed or _one_line(exc)
        if (first_code[0] if failed else _code(exc)) in _FENCED:
            cause = (f"the broker aborted the transaction ({cause}): it stayed open longer than the transaction "
                     f"timeout (a long broker outage?), or another replay of the same input took it over")
        summary.aborted = cause
        exhausted = False
        txn.abort()
    summary.sent = sent
    if sent:
        summary.first_ts, summary.last_ts = first_ts, last_ts
    summary.acknowledged, summary.dead_letters_acknowledged = committed
    summary.elapsed_s = time.monotonic() - start
    summary.lines_read = stats.lines
    summary.out_of_order = stats.out_of_order
    summary.stopped_by = stop.reason
    state.complete = exhausted
    save_state(state_path, state)
    if progress is not None:
        progress.update(summary, summary.sent if by_events else stats.bytes, clock())
        progress.close()
    return summary


def _code(exc: BaseException) -> int | None:
    err = exc.args[0] if exc.args else None
    return err.code() if hasattr(err, "code") else None


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, TransactionLost):
        return str(exc)
    err = exc.args[0] if exc.args else exc
    text = getattr(err, "str", lambda: str(err))() or type(exc).__name__
    return f"the transaction failed: {text.splitlines()[0][:300]}"


def _start_state(opts: ReplayOptions, identity: dict[str, Any], state_path: Path, summary: Summary,
                 note: Callable[[str], None]) -> tuple[ReplayState, bool]:
    """The state to run under, and whether the topics' tails must be scanned for positions after it.

    Needs no broker: the scan itself (``delivered_after``) runs once the producer has fenced any earlier
    process of this replay, so that nothing of that process is still open or still arriving.
    """
    if not opts.resume:
        return ReplayState.fresh(identity), False
    prev = load_state(state_path)
    if prev is None:
        note(f"no earlier replay of this input to resume ({state_path}); starting from the beginning")
        return ReplayState.fresh(identity), False
    if prev.identity and prev.identity != identity:
        raise ValueError(f"state file {state_path} belongs to a different replay (input, topic or options "
                         f"differ); resume with the same arguments or drop --resume")
    summary.resumed_from = prev.acked
    return prev, not prev.complete
