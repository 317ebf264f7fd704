"""Kafka offsets as Spark writes them: ``{"topic": {"partition": offset, ...}}`` JSON, in the checkpoint's
offset log and in a query's progress. One parser for both: the batch re-reads (:mod:`streaming.rereads`) and
the lag the job reports."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: topic -> partition (as Spark writes it, a string) -> offset
Offsets = dict[str, dict[str, int]]


def parse_offsets(raw: Any) -> Offsets:
    """Offsets from Spark's JSON (a string, or the already-decoded object of a progress report); empty for none."""
    if not raw:
        return {}
    data = json.loads(raw) if isinstance(raw, (str, bytes)) else raw
    return {str(t): {str(p): int(o) for p, o in parts.items()} for t, parts in data.items()}


def _logged_offsets(path: Path) -> Offsets:
    """The Kafka offsets in an offset-log entry (``offsets/<batch>``: "v1", metadata, one line per source) or in
    the source's initial-offsets file (``sources/0/0``): the last line is the one Kafka source's JSON."""
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    return parse_offsets(lines[-1])


def batch_offsets(checkpoint: Path, batch_id: int) -> tuple[Offsets, Offsets]:
    """(start, end) Kafka offsets of a micro-batch, from the query's checkpoint.

    Spark writes a batch's end offsets to ``offsets/<id>`` before running it; the batch starts where the one
    before it ended, or, for the first batch, at the offsets the source recorded when the query first started.
    """
    end = _logged_offsets(checkpoint / "offsets" / str(batch_id))
    before = checkpoint / "offsets" / str(batch_id - 1)
    start = _logged_offsets(before if before.exists() else checkpoint / "sources" / "0" / "0")
    return start, end


def lag(progress: dict) -> int:
    """Records in Kafka not yet read: latest offsets minus the batch's end offsets, over all partitions."""
    total = 0
    for src in progress.get("sources") or []:
        latest, end = parse_offsets(src.get("latestOffset")), parse_offsets(src.get("endOffset"))
        for topic, parts in latest.items():
            done = end.get(topic, {})
            total += sum(max(0, offset - done.get(p, 0)) for p, offset in parts.items())
    return total
