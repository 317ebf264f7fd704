"""The target list as CSV, for the page's download button and ``python -m dashboard export``.

Usage: ``python -m dashboard export --min-risk R [--max-risk R] [--level L] [--band B] [--status S] --out FILE.csv``

Columns: id, name, level, risk, band, top_drivers (the drivers raising the risk, in words), last_activity and
as_of (event time, UTC). For cancelled users ``risk`` is the last risk scored while they were active. Text
from the event stream that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@`` first) gets a
leading apostrophe. The file is written next to its destination and renamed, so it appears whole or not at all.
"""
from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path
from typing import IO, Iterable

from dashboard.formatting import fmt_time
from dashboard.targets import Target

COLUMNS: tuple[str, ...] = ("id", "name", "level", "risk", "band", "top_drivers", "last_activity", "as_of")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def _time(ms: int | None) -> str:
    return "" if ms is None else fmt_time(ms)


def csv_row(t: Target) -> list[str]:
    r = t.row
    drivers = r.drivers_text
    return [r.user_id, _cell(r.name), r.level, f"{r.risk:.4f}", r.band, "" if drivers == "—" else _cell(drivers),
            _time(r.last_ts), _time(t.as_of)]


def write_csv(targets: Iterable[Target], out: IO[str]) -> int:
    """Write the header and one line per target; returns the number of users written."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    n = 0
    for t in targets:
        writer.writerow(csv_row(t))
        n += 1
    return n


def csv_bytes(targets: Iterable[Target]) -> tuple[bytes, int]:
    buf = io.StringIO()
    n = write_csv(targets, buf)
    return buf.getvalue().encode("utf-8"), n


def write_csv_file(targets: Iterable[Target], path: Path) -> int:
    """Write atomically: a temporary file in the same folder, renamed over ``path`` once complete."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            n = write_csv(targets, out)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n
