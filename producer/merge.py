"""Merge several ts-sorted log files into one event-time order, streaming.

Each file is assumed sorted by ``ts`` (eventsim and our simulator write them so). ``heapq.merge`` holds
one pending line per file, so memory stays flat whatever the input size. A line whose ts is smaller than
an earlier line of the same file is *out of order*: it is counted and passed on where it stands (never
dropped, never buffered). A bad line has no usable ts; it travels with the ts of the valid line before
it in its file, so it keeps its place between its neighbours.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Iterator, Sequence

from producer.logfiles import iter_numbered_lines
from producer.verdicts import Verdict, line_verdict

#: (ts, raw line, verdict (a ``verdicts.Verdict`` tuple), source file, 1-based line number)
Merged = tuple[int, bytes, Verdict, str, int]


@dataclass
class ReadStats:
    """What reading saw, for the progress bar and the summary."""

    lines: int = 0
    bytes: int = 0
    out_of_order: int = 0
    per_file_lines: dict[str, int] = field(default_factory=dict)


def file_items(path: Path, stats: ReadStats) -> Iterator[Merged]:
    """One file's non-blank lines with their verdicts and merge keys, in file order.

    Reads through ``logfiles.iter_numbered_lines`` (tuples, no ``Line`` object per line): at a million lines a
    minute every allocation per line shows.
    """
    last_ts = 0
    n = 0
    source = str(path)
    verdict = line_verdict
    for lineno, raw in iter_numbered_lines(path, stats):
        n += 1
        stats.lines += 1
        q = verdict(raw)
        event = q[1]
        if event is not None:
            ts = event["ts"]
            if ts < last_ts:
                stats.out_of_order += 1
            else:
                last_ts = ts
        else:
            ts = last_ts
        yield ts, raw, q, source, lineno
    stats.per_file_lines[source] = n


def merged_items(paths: Sequence[Path], stats: ReadStats, workers: int = 0) -> Iterator[Merged]:
    """Every line of every file, in one event-time order; ties keep file order, then line order.

    ``workers`` > 0: validate in that many worker processes (``producer.parallel_verdicts``).
    """
    if workers > 0:
        return _merged_parallel(paths, stats, workers)
    iters = [file_items(p, stats) for p in paths]
    if len(iters) == 1:
        return iters[0]
    return heapq.merge(*iters, key=itemgetter(0))


def _merged_parallel(paths: Sequence[Path], stats: ReadStats, workers: int) -> Iterator[Merged]:
    import multiprocessing

    from producer.parallel_verdicts import detach_worker, file_items_parallel

    # spawn, not fork: the parent already runs librdkafka threads, which a fork would copy half-way
    pool = multiprocessing.get_context("spawn").Pool(workers, initializer=detach_worker)
    try:
        iters = [file_items_parallel(p, stats, pool) for p in paths]
        yield from (iters[0] if len(iters) == 1 else heapq.merge(*iters, key=itemgetter(0)))
    finally:
        pool.terminate()


#: below this much input, worker processes cost more (start-up ~0.5 s) than they save
PARALLEL_MIN_BYTES = 16 << 20


def file_source(paths: Sequence[Path], workers: int = 0):
    """A ``stream.Source`` over files: each call is one fresh pass."""
    if workers and sum(p.stat().st_size for p in paths) < PARALLEL_MIN_BYTES:
        workers = 0
    return lambda stats: merged_items(paths, stats, workers)
