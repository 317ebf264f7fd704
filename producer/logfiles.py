"""Read JSON-lines event logs: files, ``.gz`` files, folders and globs, streamed line by line.

Nothing is read whole into memory. Every line comes with its source and 1-based line number so that a
malformed line can be reported precisely.
"""
from __future__ import annotations

import glob
import gzip
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Sequence

LOG_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz", ".log", ".log.gz")


class LogPathError(FileNotFoundError):
    """A path names nothing readable; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class Line:
    source: str
    lineno: int
    raw: bytes  # without the trailing newline


def _is_log_file(p: Path) -> bool:
    name = p.name
    return p.is_file() and not name.endswith(".truth.jsonl") and name.endswith(LOG_SUFFIXES)


def expand_paths(paths: Sequence[str | Path]) -> list[Path]:
    """Files named directly, the log files inside folders (sorted), and glob matches, in that order."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if _is_log_file(q))
            if not found:
                raise LogPathError(f"{p}: folder holds no log files ({', '.join(LOG_SUFFIXES)})")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        elif any(ch in str(raw) for ch in "*?["):
            found = sorted(Path(q) for q in glob.glob(str(raw), recursive=True) if Path(q).is_file())
            if not found:
                raise LogPathError(f"{raw}: no file matches")
            out.extend(found)
        else:
            raise LogPathError(f"{raw}: no such file or folder")
    return out


def open_log(path: Path) -> BinaryIO:
    """Binary stream of a log file, decompressing ``.gz`` on the fly."""
    if path.suffix == ".gz":
        return io.BufferedReader(gzip.open(path, "rb"), buffer_size=1 << 20)  # type: ignore[arg-type]
    return open(path, "rb", buffering=1 << 20)


def iter_numbered_lines(path: Path, stats: Any = None) -> Iterator[tuple[int, bytes]]:
    """(line number, raw line without its newline) of the non-blank lines of one file.

    Plain tuples for the replay's hot loop (no object per line); ``stats.bytes``, when given, counts every byte
    read, blank lines included.
    """
    with open_log(path) as fh:
        for lineno, raw in enumerate(fh, 1):
            if stats is not None:
                stats.bytes += len(raw)
            raw = raw.rstrip(b"\r\n")
            if raw and not raw.isspace():  # = raw.strip() (same ASCII whitespace) without copying the line
                yield lineno, raw


def iter_file_lines(path: Path) -> Iterator[Line]:
    """Non-blank lines of one file, in file order."""
    source = str(path)
    for lineno, raw in iter_numbered_lines(path):
        yield Line(source, lineno, raw)


def iter_lines(paths: Sequence[str | Path]) -> Iterator[Line]:
    """Non-blank lines of every file the paths name, file after file."""
    for path in expand_paths(paths):
        yield from iter_file_lines(path)
