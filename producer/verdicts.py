"""Per-line validity at producer speed, with exactly the verdicts of ``contracts.validation.classify``.

``classify`` builds a fresh JSON decoder on every call and checks fields one function call at a time,
which alone would cap the replay's rate (figures: docs/benchmarks.md). Almost every line is a well-formed
event, so :func:`line_verdict` decodes with orjson (a C decoder, several times faster than the standard
library's) and checks field types with one cached lookup per type signature; whenever anything
looks unusual it falls back to ``classify`` itself, so reasons and details for bad lines come from the
contract.

Where orjson and the standard library's ``json`` differ, orjson is the stricter one, with a single
exception, handled here:

* orjson rejects what ``classify`` would still decode (lone surrogate escapes, ``1e999``, ``NaN``, more
  than 1,024 levels of nesting): the line goes to ``classify``;
* orjson decodes an integer literal outside [-2**63, 2**64) as a float, where ``json`` keeps an int.
  Such a float has a magnitude of at least 2**63, so any top-level float that large goes to
  ``classify``, and so does any line with a nested list or object (whose contents are not inspected).

``tests/producer/test_replay_verdicts.py`` checks on fuzzed lines that both always agree, and that orjson
decodes every accepted line exactly as ``json`` does.
"""
from __future__ import annotations

from typing import Any

from orjson import loads as _loads

from contracts.schema import FIELDS, MAX_LINE_BYTES, PAGES, TS_MAX_MS, TS_MIN_MS
from contracts.validation import classify

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
#: orjson decodes integer literals outside [-2**63, 2**64) as floats of at least this magnitude
_BIG = 2.0 ** 63
#: type signature (the event's keys, then the exact types of its values) -> the keys whose values are
#: floats (to check for size), or None when the signature is not allowed or needs ``classify``. A log
#: holds a handful of signatures, so checking every field's type becomes one dict lookup.
_SIGNATURES: dict[tuple, tuple[str, ...] | None] = {}


def _signature_verdict(sig: tuple) -> tuple[str, ...] | None:
    half = len(sig) // 2
    present = dict(zip(sig[:half], sig[half:]))
    if present.get("ts") is not int or present.get("page") is not str:
        return None  # missing or of another type: classify says which
    if any(t is list or t is dict for t in sig[half:]):
        return None  # nested values could hold integers orjson turned into floats
    if any(present.get(name, _NONE) not in _ALLOWED[_KINDS[name]] for name in _NAMES):
        return None
    return tuple(name for name, t in present.items() if t is float)


#: a verdict as a plain tuple: (status, event, reason, detail), as ``contracts.validation.Verdict``'s fields
Verdict = tuple


def _slow(raw: bytes) -> Verdict:
    v = classify(raw)
    return (v.status, v.event, v.reason, v.detail)


def line_verdict(raw: bytes) -> Verdict:
    """The verdict ``classify(raw)`` would give, decided fast for ordinary lines, as a plain tuple.

    The replay's hot path reads it by index: a plain tuple is built with one instruction, where a
    NamedTuple (even through ``tuple.__new__``) costs a Python call more a line.
    """
    if len(raw) > MAX_LINE_BYTES:
        return _slow(raw)
    try:
        event = _loads(raw)
    except (ValueError, RecursionError):  # orjson.JSONDecodeError and UnicodeDecodeError are ValueErrors
        return _slow(raw)
    if type(event) is not dict:
        return _slow(raw)
    sig = (*event, *map(type, event.values()))
    floats = _SIGNATURES.get(sig, _signature_verdict)
    if floats is _signature_verdict:
        floats = _signature_verdict(sig)
        if len(_SIGNATURES) < 4096:  # bounded even for adversarial input
            _SIGNATURES[sig] = floats
    # the signature vouches for every type (ts an int, page a str, ...); left to check: a few values
    if floats is None or event["page"] not in _PAGES or not TS_MIN_MS <= event["ts"] < TS_MAX_MS:
        return _slow(raw)
    for name in floats:
        if not -_BIG < event[name] < _BIG:  # also false for inf and nan
            return _slow(raw)
    return ("valid" if event.get("userId") else "hidden", event, None, None)
