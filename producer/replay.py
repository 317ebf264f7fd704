"""Replay event logs into Kafka: merged in event time, paced, keyed by user, nothing lost or doubled.

The record for one log line: key = ``userId`` (a hidden event, empty userId, gets the key
``__hidden__:<sessionId>`` so an anonymous session stays in order and hidden traffic spreads over
partitions), value = the line's bytes unchanged (``--loop`` passes > 0: only the ts number rewritten),
Kafka timestamp = the event's ts, header ``sparkify-replay: <run id>:<position>`` (used by ``--resume``).
Bad lines never reach the event topic; they are counted by reason and, with a dead-letter topic, sent
there with headers ``reason``, ``detail``, ``source``, ``lineno``.

Per-line work is one JSON decode and one ``produce`` call; batching, compression and delivery run in
librdkafka's threads. Successful deliveries are not reported one by one (``delivery.report.only.error``:
only failures call back into Python); they are confirmed in bulk by checkpoints (:func:`run_replay`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from contracts.settings import Settings
from producer.kafka_out import ensure_topic, make_producer
from producer.logfiles import expand_paths
from producer.merge import ReadStats, file_source
from producer.pacing import Pacer
from producer.progress import Progress, Summary
from producer.resume import (HEADER, ReplayState, default_state_path, delivered_after, identity_of, load_state,
                             save_state)
from producer.stream import Source, StreamOptions, items

HIDDEN_KEY_PREFIX = "__hidden__:"
OUTSIDE_WINDOW = "outside_window"
#: most seconds a checkpoint waits for the records in flight; on a healthy broker it takes milliseconds
CHECKPOINT_FLUSH_S = 0.5
#: produce()'s partition argument for "let the partitioner choose" (RD_KAFKA_PARTITION_UA). The hot path passes
#: every argument by position, (topic, value, key, partition, on_delivery, callback, timestamp, headers): with
#: keywords, confluent-kafka builds a dict and looks each name up, about 1 us a record.
ANY_PARTITION = -1
_NEVER = 1 << 62  # beyond any event time
#: librdkafka's error codes for records purged (never confirmed) after the final flush timed out
_PURGED = (-152, -151)  # KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT


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
    """Send the logs; return the summary once everything sent is acknowledged (or failed/timed out).

    Acknowledgements are counted by checkpoints, not per record: only a failed delivery calls back into
    Python. About every ``state_every_s`` the loop flushes the producer; when the flush returns with nothing
    outstanding, every record produced before it was either acknowledged or reported failed, so while no
    record has failed, every position handled before the flush is done and the state file may say so. After
    a failure the saved state stays at the last clean checkpoint (before the failed record): ``--resume``
    then finds what was delivered after it in the topic's tail. A checkpoint costs a pause of about one
    round trip to the broker, far less than a Python call per record.
    """
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
    state, skip_below, found = _start_state(opts, settings, identity, state_path, summary, note)
    save_state(state_path, state)  # the run id is on disk before the first record leaves

    # per topic: [failed, purged] records, from the only delivery reports that reach Python
    undelivered = {topic: [0, 0], dlt: [0, 0]}

    def on_failure(err: Any, msg: Any) -> None:
        purged = err.code() in _PURGED
        undelivered[dlt if dlt and msg.topic() == dlt else topic][purged] += 1
        if not purged:
            summary.failed += 1
            summary.first_error = summary.first_error or str(err)

    producer = make_producer(settings, **{"delivery.report.only.error": True, "on_delivery": on_failure,
                                          **opts.producer_overrides})
    produce, poll = producer.produce, producer.poll
    run_id = state.run_id

    def confirmed(sent_: int, dead_: int) -> None:
        """Nothing is outstanding: whatever was produced and not reported failed or purged is acknowledged."""
        summary.acknowledged = sent_ - sum(undelivered[topic])
        summary.dead_letters_acknowledged = dead_ - sum(undelivered[dlt])

    def checkpoint(handled: int, sent_: int) -> None:
        """Positions < ``handled`` have all been handed to the producer (or skipped): confirm them if we can."""
        if producer.flush(CHECKPOINT_FLUSH_S) == 0:
            confirmed(sent_, summary.dead_lettered)
            if summary.failed == 0:
                state.acked = max(state.acked, handled)

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
            save_state(state_path, state)
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
    if sent:
        summary.first_ts, summary.last_ts = first_ts, last_ts

    deadline = time.monotonic() + opts.flush_timeout_s
    while len(producer) and time.monotonic() < deadline:
        producer.flush(min(1.0, max(0.0, deadline - time.monotonic())))
        if progress is not None and progress.due():
            progress.update(summary, summary.sent if by_events else stats.bytes, clock())
    all_done = len(producer) == 0
    if not all_done:
        # still unconfirmed after the flush timeout: purge them, so that each is reported (as purged, not
        # failed) and counted against its own topic
        producer.purge()
        producer.flush(5.0)
    confirmed(sent, summary.dead_lettered)
    left = len(producer)  # not even a purge report came back: count them as unconfirmed events
    summary.acknowledged -= left
    summary.elapsed_s = time.monotonic() - start
    summary.lines_read = stats.lines
    summary.out_of_order = stats.out_of_order
    summary.stopped_by = stop.reason
    if all_done and summary.failed == 0:
        state.acked = max(state.acked, handled)
    state.complete = exhausted and summary.failed == 0 and summary.unconfirmed == 0
    save_state(state_path, state)
    if progress is not None:
        progress.update(summary, summary.sent if by_events else stats.bytes, clock())
        progress.close()
    return summary


def _start_state(opts: ReplayOptions, settings: Settings, identity: dict[str, Any], state_path: Path,
                 summary: Summary, note: Callable[[str], None]) -> tuple[ReplayState, int, set[int]]:
    """The state to run under, the positions already done below which to skip, and those found after."""
    if not opts.resume:
        return ReplayState.fresh(identity), 0, set()
    prev = load_state(state_path)
    if prev is None:
        note(f"no earlier replay of this input to resume ({state_path}); starting from the beginning")
        return ReplayState.fresh(identity), 0, set()
    if prev.identity and prev.identity != identity:
        raise ValueError(f"state file {state_path} belongs to a different replay (input, topic or options "
                         f"differ); resume with the same arguments or drop --resume")
    topics = [opts.topic] + ([opts.dead_letter_topic] if opts.dead_letter_topic else [])
    found = set() if prev.complete else delivered_after(settings, topics, prev.run_id, prev.acked)
    summary.resumed_from = prev.acked
    summary.found_in_topic = len(found)
    note(f"resuming run {prev.run_id}: {prev.acked} positions done, {len(found)} more found in the topic")
    return prev, prev.acked, found
