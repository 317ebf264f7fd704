"""Classify one raw log line as a valid event, a hidden event or an invalid record with a reason.

The producer uses :func:`classify` per line; the streaming job applies the same rules as Spark SQL
expressions (``contracts.parsing``), and a test checks the two agree on fuzzed input. Reasons are a short
category (one of ``REASONS``) plus a detail, so dead letters can be counted by category.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Literal

from contracts.schema import FIELDS, MAX_LINE_BYTES, PAGES, REQUIRED, TS_MAX_MS, TS_MIN_MS

Status = Literal["valid", "hidden", "invalid"]

NOT_UTF8 = "bad_encoding"
TOO_LARGE = "too_large"
NOT_JSON = "not_json"
NOT_OBJECT = "not_object"
MISSING = "missing_field"
WRONG_TYPE = "wrong_type"
UNKNOWN_PAGE = "unknown_page"
BAD_VALUE = "bad_value"
REASONS: tuple[str, ...] = (NOT_UTF8, TOO_LARGE, NOT_JSON, NOT_OBJECT, MISSING, WRONG_TYPE, UNKNOWN_PAGE, BAD_VALUE)

_PAGES = frozenset(PAGES)


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status
    reason: str | None = None  # one of REASONS when invalid
    detail: str | None = None
    event: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status != "invalid"


def _type_ok(kind: str, accepts_float: bool, value: Any) -> bool:
    if value is None:
        return True
    if kind == "string":
        return isinstance(value, str)
    if isinstance(value, bool):
        return False
    if kind == "long":
        return isinstance(value, int) or (accepts_float and isinstance(value, float) and math.isfinite(value))
    return isinstance(value, (int, float)) and math.isfinite(value)  # double


def check_event(event: Any) -> Verdict:
    """Validate an already-decoded JSON value."""
    if not isinstance(event, dict):
        return Verdict("invalid", NOT_OBJECT, type(event).__name__)
    for name in REQUIRED:
        if event.get(name) is None:
            return Verdict("invalid", MISSING, name)
    for f in FIELDS:
        if not _type_ok(f.kind, f.accepts_float, event.get(f.name)):
            return Verdict("invalid", WRONG_TYPE, f.name)
    if event["page"] not in _PAGES:
        return Verdict("invalid", UNKNOWN_PAGE, str(event["page"])[:80])
    if not TS_MIN_MS <= event["ts"] < TS_MAX_MS:
        return Verdict("invalid", BAD_VALUE, "ts out of range")
    if not event.get("userId"):
        return Verdict("hidden", event=event)
    return Verdict("valid", event=event)


def classify(line: bytes | str) -> Verdict:
    """Validate one raw line (bytes as read from a file or Kafka, or text)."""
    if isinstance(line, bytes):
        if len(line) > MAX_LINE_BYTES:
            return Verdict("invalid", TOO_LARGE, f"{len(line)} bytes")
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            return Verdict("invalid", NOT_UTF8, str(exc)[:80])
    elif len(line) > MAX_LINE_BYTES // 4 and len(line.encode("utf-8", "surrogatepass")) > MAX_LINE_BYTES:
        return Verdict("invalid", TOO_LARGE, f"{len(line)} chars")
    try:
        event = json.loads(line, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        return Verdict("invalid", NOT_JSON, str(exc)[:80])
    return check_event(event)


def _reject_constant(name: str) -> Any:
    # NaN / Infinity are not JSON; Python would accept them silently.
    raise ValueError(f"non-standard JSON constant {name}")
