"""Validate lines in worker processes while the main process reads and produces.

Decoding JSON is most of a replay's per-line CPU. With one Python thread doing everything, replay gets
one core (or, on a busy machine, one thread's share of it). Here the main process reads lines in chunks
and hands each chunk to a small process pool; results come back in order as compact columns (ts,
status, userId, sessionId per line, reasons for the few bad lines), not as decoded events, so the
transfer costs far less than the decoding it saves. At most ``AHEAD`` chunks are in flight per file, so
memory stays bounded whatever the file size.

The verdict's ``event`` is then a *slim* dict with only ``ts``, ``userId`` and ``sessionId``: all that
the send loop needs (key, timestamp). Statuses, reasons and details are those of ``line_verdict``.

Opt-in (``replay --parse-workers N``): since ``line_verdict`` decodes with orjson, validating costs less
than shipping lines to a worker and back, so workers cost more CPU than they save on a small machine
(docs/benchmarks.md).
"""
from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from producer.logfiles import iter_numbered_lines
from producer.verdicts import line_verdict

if TYPE_CHECKING:
    from producer.merge import Merged, ReadStats

CHUNK_LINES = 4096
AHEAD = 6
RESULT_TIMEOUT_S = 120.0  # a chunk takes well under a second; a lost worker must not hang replay
_VALID, _HIDDEN, _INVALID = 0, 1, 2
_STATUS = ("valid", "hidden", "invalid")


def detach_worker() -> None:
    """Pool initializer: leave the terminal's process group.

    Ctrl-C (and ``kill -- -pgid``) then reaches only the main process, which stops cleanly and ends the
    pool itself; workers never print a KeyboardInterrupt traceback. If the main process dies, workers
    exit on their closed pipe.
    """
    import os

    os.setpgrp()


def verdict_columns(raws: list[bytes]) -> tuple[list, bytes, list, list, dict[int, tuple]]:
    """Worker side: (ts, status codes, userIds, sessionIds, {index: (reason, detail)}) for a chunk."""
    ts_col, uid_col, sid_col = [], [], []
    codes = bytearray(len(raws))
    bad: dict[int, tuple] = {}
    for i, raw in enumerate(raws):
        status, ev, reason, detail = line_verdict(raw)
        if ev is None:
            codes[i] = _INVALID
            bad[i] = (reason, detail)
            ts_col.append(None)
            uid_col.append(None)
            sid_col.append(None)
        else:
            codes[i] = _VALID if status == "valid" else _HIDDEN
            ts_col.append(ev["ts"])
            uid_col.append(ev.get("userId"))
            sid_col.append(ev.get("sessionId"))
    return ts_col, bytes(codes), uid_col, sid_col, bad


def _chunks(path: Path, stats: "ReadStats") -> Iterator[tuple[list[bytes], list[int]]]:
    raws: list[bytes] = []
    linenos: list[int] = []
    for lineno, raw in iter_numbered_lines(path, stats):
        raws.append(raw)
        linenos.append(lineno)
        if len(raws) >= CHUNK_LINES:
            yield raws, linenos
            raws, linenos = [], []
    if raws:
        yield raws, linenos


def file_items_parallel(path: Path, stats: "ReadStats", pool) -> Iterator["Merged"]:
    """Like ``merge.file_items`` (same order, same statuses), with validation done by ``pool``."""
    source = str(path)
    pending: deque = deque()
    chunks = _chunks(path, stats)
    last_ts = 0
    n = 0
    exhausted = False
    while True:
        while not exhausted and len(pending) < AHEAD:
            nxt = next(chunks, None)
            if nxt is None:
                exhausted = True
                break
            pending.append((nxt, pool.apply_async(verdict_columns, (nxt[0],))))
        if not pending:
            break
        (raws, linenos), result = pending.popleft()
        ts_col, codes, uid_col, sid_col, bad = result.get(timeout=RESULT_TIMEOUT_S)
        for i, raw in enumerate(raws):
            n += 1
            stats.lines += 1
            code = codes[i]
            if code == _INVALID:
                reason, detail = bad[i]
                yield last_ts, raw, ("invalid", None, reason, detail), source, linenos[i]
                continue
            ts = ts_col[i]
            if ts < last_ts:
                stats.out_of_order += 1
            else:
                last_ts = ts
            q = (_STATUS[code], {"ts": ts, "userId": uid_col[i], "sessionId": sid_col[i]}, None, None)
            yield ts, raw, q, source, linenos[i]
    stats.per_file_lines[source] = n
