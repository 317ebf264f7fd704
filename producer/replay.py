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
#: keywords, confluent-kafka builds a dict and looks each name up for every record.
ANY_PARTITION = -1
_NEVER = 1 << 62  # beyond any event time
#: librdkafka's error codes for records purged (never confirmed) by an abort
_PURGED = (-152, -151)  # KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT
#: error codes saying the broker moved the producer's epoch on: the coordinator aborted the transaction (open
#: longer than its timeout) or another producer took the transactional.id over
_FENCED = (47, 90, -144)  # INVALID_PRODUCER_EPOCH, PRODUCER_FENCED, KafkaError._FENCED
#: how long an abort waits for outstanding delivery reports to name the failed record
REPORT_WAIT_S = 1.0
_FATAL = -150  # KafkaError._FATAL: the producer had a fatal error, whose cause the transactional API reports


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


class DeliveryFailures:
    """The only delivery reports that reach Python (``delivery.report.only.error``): failed and purged records.

    The producer calls it from ``poll``/``flush``; the replay asks it whether the open transaction can commit.
    """

    def __init__(self, topic: str, dead_letter_topic: str | None, summary: Summary) -> None:
        self.topic, self.dead_letter_topic, self.summary = topic, dead_letter_topic, summary
        #: per topic: [failed, purged] records
        self.counts = {topic: [0, 0], dead_letter_topic: [0, 0]}
        self.first_code = 0

    def __call__(self, err: Any, msg: Any) -> None:
        purged = err.code() in _PURGED
        dlt = self.dead_letter_topic
        which = dlt if dlt and msg.topic() == dlt else self.topic
        self.counts[which][purged] += 1
        if not purged:
            if which == self.topic:
                self.summary.failed += 1
            if self.summary.first_error is None:
                self.summary.first_error, self.first_code = str(err), err.code()

    def reason(self) -> str | None:
        """Why the open transaction cannot commit when one of its records failed (None: none did)."""
        if self.counts[self.topic][0] or self.counts[self.dead_letter_topic][0]:
            return f"a record failed ({self.summary.first_error})"
        return None


class CommitLog:
    """The open transaction and what the committed ones hold: commits at checkpoints, then the state file.

    Positions below ``state.acked`` are done (sent in a committed transaction, or skipped on purpose); the state
    file only moves after a commit, so after a crash it never claims a record that a read_committed reader
    cannot see.
    """

    def __init__(self, producer: Any, txn: Transactions, failures: DeliveryFailures, state: ReplayState,
                 state_path: Path, summary: Summary) -> None:
        self.producer, self.txn, self.failures = producer, txn, failures
        self.state, self.state_path, self.summary = state, state_path, summary
        self.committed = (0, 0)  # events and dead letters sent in committed transactions
        self.began = time.monotonic()  # when the open transaction began

    def begin(self) -> None:
        self.txn.begin()
        self.began = time.monotonic()

    def checkpoint(self, handled: int, sent: int) -> None:
        """Positions < ``handled`` have all been handed to the producer (or skipped): commit them if we can."""
        overdue = time.monotonic() - self.began >= COMMIT_AT_LATEST_S
        if self.producer.flush(COMMIT_TIMEOUT_S / 2 if overdue else CHECKPOINT_FLUSH_S):
            return  # still in flight (a slow or restarting broker): a later checkpoint commits them
        self._commit(handled, sent)
        self.summary.acknowledged, self.summary.dead_letters_acknowledged = self.committed
        save_state(self.state_path, self.state)
        self.begin()

    def finish(self, handled: int, sent: int, flush_timeout_s: float, on_wait: Callable[[], None]) -> None:
        """Wait for every record in flight (at most ``flush_timeout_s``) and commit the last transaction."""
        deadline = time.monotonic() + flush_timeout_s
        while len(self.producer) and time.monotonic() < deadline:
            self.producer.flush(min(1.0, max(0.0, deadline - time.monotonic())))
            on_wait()
        if len(self.producer) and not self.failures.reason():
            raise TransactionLost(f"{len(self.producer)} records still unconfirmed after {flush_timeout_s:g} s")
        self._commit(handled, sent)

    def _commit(self, handled: int, sent: int) -> None:
        if failure := self.failures.reason():
            raise TransactionLost(failure)
        self.txn.commit(COMMIT_TIMEOUT_S)
        self.committed = sent, self.summary.dead_lettered
        self.state.acked = max(self.state.acked, handled)

    def abort(self, exc: BaseException) -> str:
        """Abort the open transaction (its records are purged or hidden from read_committed readers); why."""
        from confluent_kafka import KafkaException

        # a failed record is the likelier cause: produce() can raise (e.g. "Erroneous state") before the failed
        # record's delivery report arrives, so serve reports for a moment while records are outstanding
        deadline = time.monotonic() + REPORT_WAIT_S
        try:
            self.producer.poll(0)
            while not self.failures.reason() and len(self.producer) and time.monotonic() < deadline:
                self.producer.poll(0.05)
        except KafkaException:
            pass
        failed = self.failures.reason()
        cause = failed or _one_line(exc)
        code = self.failures.first_code if failed else _code(exc)
        underlying = self.txn.abort()
        if not failed and code == _FATAL and underlying is not None and underlying.fatal():
            # produce() after a fatal error says only "Local: Fatal error"; the transactional API gives its cause
            cause, code = _one_line(KafkaException(underlying)), underlying.code()
        if code in _FENCED:
            cause = (f"the broker aborted the transaction ({cause}): it stayed open longer than the transaction "
                     f"timeout (a long broker outage?), or another replay of the same input took it over")
        return cause


class Replay:
    """One replay run: the inputs, the producer and its transactions, pacing, progress and the summary.

    :meth:`run` is the send loop. Its per-line path stays a handful of local operations and one ``produce``
    call; everything else (delivery reports, progress, checkpoints, the stop flag) runs every 1024 lines.
    """

    def __init__(self, opts: ReplayOptions, settings: Settings, stop: StopFlag | None = None,
                 progress: Progress | None = None, note: Callable[[str], None] = lambda s: None) -> None:
        if opts.dead_letter_topic == opts.topic:
            raise ValueError(f"the dead-letter topic must differ from the event topic ({opts.topic!r})")
        self.opts, self.settings, self.progress, self.note = opts, settings, progress, note
        self.stop = stop or StopFlag()
        self.paths = expand_paths(opts.paths) if opts.source is None else []
        self.pacer = Pacer(speed=opts.speed, rate=opts.rate)
        self.stats = ReadStats()
        self.last_ts = -_NEVER  # latest event time sent, as of the last tick (for progress)
        self.start = self.last_save = time.monotonic()

    def _identity(self) -> dict[str, Any]:
        so, opts = self.opts.stream, self.opts
        return identity_of(self.paths, opts.topic, opts.dead_letter_topic, self.settings.kafka_bootstrap,
                           {"from": so.from_ms, "until": so.until_ms, "limit": so.limit, "loop": so.loop,
                            **({"source": opts.source_identity} if opts.source_identity else {})})

    def _open(self) -> tuple[Summary, CommitLog, set[int]]:
        """Topics, state file, transactional producer (fencing an earlier process), and the positions found
        delivered after the saved state (``--resume``)."""
        opts, settings = self.opts, self.settings
        ensure_topic(settings, opts.topic, opts.partitions, timeout=opts.connect_timeout_s)
        if opts.dead_letter_topic:
            ensure_topic(settings, opts.dead_letter_topic, opts.partitions, timeout=opts.connect_timeout_s)
        identity = self._identity()
        state_path = opts.state_path or default_state_path(settings, identity)
        summary = Summary(topic=opts.topic, state_file=str(state_path))
        state, scan = _start_state(opts, identity, state_path, summary, self.note)
        save_state(state_path, state)  # the run id is on disk before the first record leaves
        failures = DeliveryFailures(opts.topic, opts.dead_letter_topic, summary)
        producer = make_producer(settings, **{"delivery.report.only.error": True, "on_delivery": failures,
                                              **transactional_config(transactional_id(identity, state_path)),
                                              **opts.producer_overrides})
        txn = Transactions(producer, settings.kafka_bootstrap)
        # fences an earlier process of this replay (killed, or still running) and aborts its open transaction: the
        # topics' tails then hold only committed records, and a late request of that process is rejected; the
        # first transactional producer on a broker also waits for it to create its transaction log
        txn.init(max(opts.connect_timeout_s, INIT_TRANSACTIONS_TIMEOUT_S))
        found: set[int] = set()
        if opts.resume and summary.resumed_from is not None:
            if scan:
                topics = [opts.topic] + ([opts.dead_letter_topic] if opts.dead_letter_topic else [])
                found = delivered_after(settings, topics, state.run_id, state.acked)
            summary.found_in_topic = len(found)
            self.note(f"resuming run {state.run_id}: {state.acked} positions done, {len(found)} more found in the "
                      f"topic")
        return summary, CommitLog(producer, txn, failures, state, state_path, summary), found

    # ---- between lines ---------------------------------------------------------------------------------
    def _show(self, summary: Summary) -> None:
        if self.progress is not None:
            clock = self.last_ts if self.last_ts != -_NEVER else None
            self.progress.update(summary, summary.sent if self.opts.stream.limit is not None else self.stats.bytes,
                                 clock)

    def _tick(self, summary: Summary, log: CommitLog, handled: int) -> None:
        """Positions < ``handled`` are handled: progress, a checkpoint when one is due, --duration."""
        now = time.monotonic()
        if self.progress is not None and self.progress.due():
            self._show(summary)
        if now - self.last_save >= self.opts.state_every_s:
            log.checkpoint(handled, summary.sent)
            self.last_save = time.monotonic()
        if self.opts.duration_s is not None and now - self.start >= self.opts.duration_s:
            self.stop.set("duration")

    def _wait(self, seconds: float, summary: Summary, log: CommitLog, handled: int) -> None:
        deadline = time.monotonic() + seconds
        while self.stop.reason is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            log.producer.poll(min(left, 0.05))
            self._tick(summary, log, handled)

    # ---- the run ---------------------------------------------------------------------------------------
    def run(self) -> Summary:
        """Send the logs; return the summary once everything sent is committed (or the transaction was lost)."""
        from confluent_kafka import KafkaException

        opts, stop, stats = self.opts, self.stop, self.stats
        so, topic, dlt = opts.stream, opts.topic, opts.dead_letter_topic
        source = opts.source or file_source(self.paths, opts.parse_workers)
        summary, log, found = self._open()
        if self.progress is not None and self.progress.total is None:
            total_bytes = None
            if self.paths and not so.loop and all(p.suffix != ".gz" for p in self.paths):
                total_bytes = sum(p.stat().st_size for p in self.paths)
            self.progress.total = so.limit or total_bytes
        log.begin()
        producer = log.producer
        produce, poll = producer.produce, producer.poll
        hdr = log.state.run_id.encode() + b":"
        skip_below = log.state.acked
        paced, pacer, duration_s = self.pacer.paced, self.pacer, opts.duration_s
        first_ts, last_ts = _NEVER, -_NEVER  # event time range of the records sent (sentinels until the first)
        exhausted = False
        sent = 0
        pos = -1
        self.start = self.last_save = time.monotonic()
        try:
            for pos, action, ts, raw, verdict, origin, lineno in items(source, so, stats):
                if not pos & 1023:  # every 1024 lines: delivery reports, progress, checkpoint, stop (~20 ms late)
                    if not pos:  # the clock (rate, --duration, events/s) starts with the first line, not start-up
                        self.start = time.monotonic()
                    summary.sent, self.last_ts = sent, last_ts
                    poll(0)
                    self._tick(summary, log, pos)
                    if stop.reason is not None:
                        break
                if pos < skip_below or (found and pos in found):
                    continue
                if action == "send":
                    if paced:
                        delay = pacer.delay(ts)
                        if delay > 0:
                            summary.sent, self.last_ts = sent, last_ts
                            self._wait(delay, summary, log, pos)  # checks --duration while it waits
                        elif duration_s is not None and time.monotonic() - self.start >= duration_s:
                            stop.set("duration")  # behind schedule (e.g. after a checkpoint): no wait, check here
                        if stop.reason is not None:
                            break
                    event = verdict[1]
                    key = event["userId"] or hidden_key(event)
                    try:  # the hot path: one call, no wrapper, no per-record callback, no keyword arguments
                        produce(topic, raw, key, ANY_PARTITION, None, None, ts, [(HEADER, hdr + b"%d" % pos)])
                    except BufferError:
                        _send(producer, topic, raw, key, ANY_PARTITION, None, None, ts,
                              [(HEADER, hdr + b"%d" % pos)])
                    sent += 1
                    if ts > last_ts:
                        last_ts = ts
                    if ts < first_ts:
                        first_ts = ts
                elif action == "invalid":
                    reason, detail = verdict[2], verdict[3]
                    summary.skipped[reason or "invalid"] += 1
                    if dlt:
                        _send(producer, dlt, raw, None,
                              headers=[("reason", reason or ""), ("detail", (detail or "")[:200]),
                                       ("source", origin), ("lineno", str(lineno)), (HEADER, hdr + b"%d" % pos)])
                        summary.dead_lettered += 1
                else:
                    summary.skipped[OUTSIDE_WINDOW] += 1
            else:
                exhausted = stop.reason is None
                pos += 1  # every position was handled
            summary.sent, self.last_ts = sent, last_ts
            log.finish(pos, sent, opts.flush_timeout_s, on_wait=lambda: self._show_if_due(summary))
        except (TransactionLost, KafkaException) as exc:
            # the open transaction cannot commit: abort it and stop; the state file keeps the last commit, where
            # --resume continues
            summary.aborted = log.abort(exc)
            exhausted = False
        return self._close(summary, log, sent, first_ts, last_ts, exhausted)

    def _show_if_due(self, summary: Summary) -> None:
        if self.progress is not None and self.progress.due():
            self._show(summary)

    def _close(self, summary: Summary, log: CommitLog, sent: int, first_ts: int, last_ts: int,
               exhausted: bool) -> Summary:
        summary.sent = sent
        if sent:
            summary.first_ts, summary.last_ts = first_ts, last_ts
        summary.acknowledged, summary.dead_letters_acknowledged = log.committed
        summary.elapsed_s = time.monotonic() - self.start
        summary.lines_read = self.stats.lines
        summary.out_of_order = self.stats.out_of_order
        summary.stopped_by = self.stop.reason
        log.state.complete = exhausted
        save_state(log.state_path, log.state)
        self.last_ts = last_ts
        if self.progress is not None:
            self._show(summary)
            self.progress.close()
        return summary


def _send(producer: Any, topic: str, *args: Any, **kw: Any) -> None:
    """``produce``, waiting while librdkafka's local queue is full."""
    while True:
        try:
            producer.produce(topic, *args, **kw)
            return
        except BufferError:
            producer.poll(0.05)


def run_replay(opts: ReplayOptions, settings: Settings, stop: StopFlag | None = None,
               progress: Progress | None = None, note: Callable[[str], None] = lambda s: None) -> Summary:
    """Send the logs; return the summary once everything sent is committed (or the transaction was lost).

    Records go out in Kafka transactions (one transactional.id per replay: :func:`transactional_id`), a new one
    begun at each checkpoint. About every ``state_every_s`` the loop flushes the producer; when the flush returns
    with nothing outstanding and no failure reported (only a failed delivery calls back into Python), every record
    produced so far was acknowledged: the transaction is committed, and only then does the state file advance to
    the positions handled. A checkpoint costs a pause of about two round trips to the broker, far less than a
    Python call per record. Why transactions: see ``docs/producer.md`` (a broker restart forgets an idempotent
    producer whose records carry old event times, never one with an open transaction).

    A transaction that cannot commit (a record failed, the coordinator aborted it after an outage longer than
    the transaction timeout, another process took the transactional.id over) is aborted and the replay
    stops: ``summary.aborted`` says why, the state file holds the last commit, and ``--resume`` sends the rest.
    """
    return Replay(opts, settings, stop, progress, note).run()


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
