"""Replay event logs into Kafka: merged in event time, paced, keyed by user, nothing lost or doubled.

The record for one log line: key = ``userId`` (a hidden event, empty userId, gets the key
``__hidden__:<sessionId>`` so an anonymous session stays in order and hidden traffic spreads over
partitions), value = the line's bytes unchanged (``--loop`` passes > 0: only the ts number rewritten),
Kafka timestamp = the event's ts, header ``sparkify-replay: <run id>:<position>`` (used by ``--resume``).
Bad lines never reach the event topic; they are counted by reason and, with a dead-letter topic, sent
there with headers ``reason``, ``detail``, ``source``, ``lineno``.

Per-line work is one JSON decode and one ``produce`` call; batching, compression and delivery run in
librdkafka's threads.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable

from contracts.settings import Settings
from producer.kafka_out import ensure_topic, make_producer
from producer.logfiles import expand_paths
from producer.merge import ReadStats, file_source
from producer.pacing import Pacer
from producer.progress import Progress, Summary
from producer.resume import (HEADER, AckTracker, ReplayState, default_state_path, delivered_after,
                             identity_of, load_state, save_state)
from producer.stream import Source, StreamOptions, items

HIDDEN_KEY_PREFIX = "__hidden__:"
OUTSIDE_WINDOW = "outside_window"


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
    """Send the logs; return the summary once everything sent is acknowledged (or failed/timed out)."""
    stop = stop or StopFlag()
    paths = expand_paths(opts.paths) if opts.source is None else []
    source = opts.source or file_source(paths, opts.parse_workers)
    pacer = Pacer(speed=opts.speed, rate=opts.rate)
    topic, dlt = opts.topic, opts.dead_letter_topic
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

    tracker = AckTracker(skip_below)
    producer = make_producer(settings, **opts.producer_overrides)
    produce, poll = producer.produce, producer.poll
    run_id = state.run_id

    def on_event(pos: int, err: Any, msg: Any) -> None:
        if err is None:
            summary.acknowledged += 1
            tracker.mark(pos)
        else:
            summary.failed += 1
            summary.first_error = summary.first_error or str(err)

    def on_dead_letter(pos: int, err: Any, msg: Any) -> None:
        if err is None:
            summary.dead_letters_acknowledged += 1
            tracker.mark(pos)
        else:
            summary.failed += 1
            summary.first_error = summary.first_error or str(err)

    def send(topic_: str, value: bytes, key: Any, cb: Callable, **kw: Any) -> None:
        while True:
            try:
                produce(topic_, value, key, on_delivery=cb, **kw)
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
    last_ts: int | None = None
    exhausted = False

    def tick() -> None:
        nonlocal last_save
        now = time.monotonic()
        if progress is not None and progress.due():
            progress.update(summary, summary.sent if by_events else stats.bytes, last_ts)
        if now - last_save >= opts.state_every_s:
            state.acked = tracker.done
            save_state(state_path, state)
            last_save = now
        if opts.duration_s is not None and now - start >= opts.duration_s:
            stop.set("duration")

    def wait(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while stop.reason is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            poll(min(left, 0.05))
            tick()

    n = 0
    sent = 0
    first_ts = last_ts_max = None
    hdr = run_id.encode() + b":"
    paced = pacer.paced
    for pos, action, ts, raw, verdict, origin, lineno in items(source, so, stats):
        if stop.reason is not None:
            break
        n += 1
        if n == 1:  # the clock (rate, --duration, events/s) starts with the first line, not with start-up
            start = time.monotonic()
        if not n & 1023:
            summary.sent = sent
            poll(0)
            tick()
        if pos < skip_below:
            continue
        if found and pos in found:
            tracker.mark(pos)
            continue
        if action == "send":
            if paced:
                delay = pacer.delay(ts)
                if delay > 0:
                    summary.sent = sent
                    wait(delay)
                    if stop.reason is not None:
                        break
            event = verdict[1]
            key = event["userId"] or hidden_key(event)
            headers = [(HEADER, hdr + b"%d" % pos)]
            try:  # the hot path: one call, no wrapper
                produce(topic, raw, key, on_delivery=partial(on_event, pos), timestamp=ts, headers=headers)
            except BufferError:
                send(topic, raw, key, partial(on_event, pos), timestamp=ts, headers=headers)
            sent += 1
            last_ts = ts
            if first_ts is None:
                first_ts = last_ts_max = ts
            elif ts < first_ts:
                first_ts = ts
            elif ts > last_ts_max:
                last_ts_max = ts
        elif action == "invalid":
            v = verdict
            summary.skipped[v.reason or "invalid"] += 1
            if dlt:
                send(dlt, raw, None, partial(on_dead_letter, pos),
                     headers=[("reason", v.reason or ""), ("detail", (v.detail or "")[:200]),
                              ("source", origin), ("lineno", str(lineno)),
                              (HEADER, hdr + b"%d" % pos)])
                summary.dead_lettered += 1
            else:
                tracker.mark(pos)
        else:
            summary.skipped[OUTSIDE_WINDOW] += 1
            tracker.mark(pos)
    else:
        exhausted = stop.reason is None
    summary.sent = sent
    summary.first_ts, summary.last_ts = first_ts, last_ts_max

    deadline = time.monotonic() + opts.flush_timeout_s
    while len(producer) and time.monotonic() < deadline:
        producer.flush(min(1.0, max(0.0, deadline - time.monotonic())))
        if progress is not None and progress.due():
            progress.update(summary, summary.sent if by_events else stats.bytes, last_ts)
    summary.elapsed_s = time.monotonic() - start
    summary.lines_read = stats.lines
    summary.out_of_order = stats.out_of_order
    summary.stopped_by = stop.reason
    state.acked = tracker.done
    state.complete = exhausted and summary.failed == 0 and summary.unconfirmed == 0
    save_state(state_path, state)
    if progress is not None:
        progress.update(summary, summary.sent if by_events else stats.bytes, last_ts)
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
