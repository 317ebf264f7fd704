"""Per-line validity at producer speed, with exactly the verdicts of ``contracts.validation.classify``.

``classify`` builds a fresh JSON decoder on every call and checks fields one function call at a time:
about 20 us a line, which alone would cap replay near 50,000 events/s on one core. Almost every line is
a well-formed event, so :func:`quick_verdict` decodes with one shared decoder and checks field types with
set lookups; whenever anything looks unusual it falls back to ``classify`` itself, so reasons and
details for bad lines come from the contract. ``tests/producer/test_replay_verdicts.py`` checks on
fuzzed lines that both always agree.
"""
from __future__ import annotations

import json
import math
from typing import Any, NamedTuple

from contracts.schema import FIELDS, MAX_LINE_BYTES, PAGES, TS_MAX_MS, TS_MIN_MS
from contracts.validation import Status, classify

_PAGES = frozenset(PAGES)
_NONE = type(None)
#: every field but ts and page (checked apart), in schema order
_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS if f.name not in ("ts", "page"))
_KINDS = {f.name: ("long+float" if f.accepts_float else f.kind) for f in FIELDS}
_ALLOWED: dict[str, frozenset[type]] = {
    "string": frozenset({str, _NONE}),
    "long": frozenset({int, _NONE}),
    "long+float": frozenset({int, float, _NONE}),
    "double": frozenset({int, float, _NONE}),
}
#: type signature (the event's keys, the exact types of its values) -> names whose float values must be
#: finite, or None when the signature is not allowed. A log holds a handful of signatures, so checking
#: every field's type becomes one dict lookup.
_SIGNATURES: dict[tuple[tuple[str, ...], tuple[type, ...]], tuple[str, ...] | None] = {}


def _signature_verdict(keys: tuple[str, ...], types: tuple[type, ...]) -> tuple[str, ...] | None:
    present = dict(zip(keys, types))
    if any(present.get(name, _NONE) not in _ALLOWED[_KINDS[name]] for name in _NAMES):
        return None
    return tuple(name for name in _NAMES if present.get(name) is float)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


class Quick(NamedTuple):
    """A verdict as a plain tuple (a frozen dataclass costs ~1 us a line to build)."""

    status: Status
    event: dict[str, Any] | None
    reason: str | None = None
    detail: str | None = None


_new_tuple = tuple.__new__


def _slow(raw: bytes) -> Quick:
    v = classify(raw)
    return Quick(v.status, v.event, v.reason, v.detail)


def quick_verdict(raw: bytes) -> Quick:
    """The verdict ``classify(raw)`` would give, decided fast for ordinary lines."""
    if len(raw) > MAX_LINE_BYTES:
        return _slow(raw)
    try:
        event = _DECODER.decode(raw.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return _slow(raw)
    if type(event) is not dict:
        return _slow(raw)
    get = event.get
    ts = get("ts")
    page = get("page")
    if type(ts) is not int or type(page) is not str or page not in _PAGES or not TS_MIN_MS <= ts < TS_MAX_MS:
        return _slow(raw)
    sig = (tuple(event), tuple(map(type, event.values())))
    floats = _SIGNATURES.get(sig, _signature_verdict)
    if floats is _signature_verdict:
        floats = _signature_verdict(*sig)
        if len(_SIGNATURES) < 4096:  # bounded even for adversarial input
            _SIGNATURES[sig] = floats
    if floats is None:
        return _slow(raw)
    for name in floats:
        if not math.isfinite(get(name)):
            return _slow(raw)
    # tuple.__new__ skips the NamedTuple's Python-level constructor (hot path)
    return _new_tuple(Quick, ("valid" if get("userId") else "hidden", event, None, None))
