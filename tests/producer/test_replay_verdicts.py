"""The producer's fast validity check agrees with contracts.validation.classify on any input.

The fast path decodes with orjson, ``classify`` with the standard library: the tests below also prove that
whatever orjson accepts, it decodes exactly as ``json`` does (same types, same values, same key order),
apart from the one known difference the fast path guards against (integers beyond 64 bits).
"""
from __future__ import annotations

import json
import math

import orjson

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.schema import FIELDS, PAGES
from contracts.validation import classify
from tests.producer.layouts import named_verdict as quick_verdict
from tests.producer.replay_logs import event

BASE = event(1_538_352_000_000, "7", 3)
values = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64), st.floats(allow_nan=True),
                   st.text(max_size=8), st.sampled_from(PAGES), st.lists(st.integers(), max_size=2),
                   st.just(""), st.just(1_538_352_000_000), st.just(1e999))


def _identical(a, b) -> bool:
    """Equal values of the very same types, dict keys in the same order (``1 == 1.0`` is not enough)."""
    if type(a) is not type(b):
        return False
    if type(a) is dict:
        return list(a) == list(b) and all(_identical(a[k], b[k]) for k in a)
    if type(a) is list:
        return len(a) == len(b) and all(_identical(x, y) for x, y in zip(a, b))
    if type(a) is float:
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    return a == b


def _same(raw: bytes) -> None:
    q, v = quick_verdict(raw), classify(raw)
    assert (q.status, q.reason, q.detail) == (v.status, v.reason, v.detail), raw
    assert _identical(q.event, v.event), raw


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from([f.name for f in FIELDS] + ["extra"]), values, max_size=6))
def test_agrees_on_mutated_events(changes):
    ev = {**BASE, **changes}
    _same(json.dumps(ev, allow_nan=True).encode())


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([f.name for f in FIELDS]))
def test_agrees_when_a_field_is_missing(name):
    ev = dict(BASE)
    del ev[name]
    _same(json.dumps(ev).encode())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_agrees_on_arbitrary_bytes(raw):
    _same(raw)
    _same(json.dumps(BASE).encode()[:-1] + raw)


def test_agrees_on_edge_cases():
    good = json.dumps(BASE).encode()
    for raw in (good, good.replace(b'"7"', b'""'), b"\xef\xbb\xbf" + good, b"[]", b"null", b'"x"',
                good.replace(b"200.5", b"NaN"), good.replace(b"200.5", b"1e999"), b" " * 70_000,
                good.replace(b'"Some Song"', b'"\xff"'), good.replace(b"1538352000000,", b"1538352000000.0,", 1)):
        _same(raw)
    assert quick_verdict(good).status == "valid"
    assert quick_verdict(good.replace(b'"7"', b'""')).status == "hidden"


BIG_INTS = (2**63 - 1, 2**63, 2**64 - 1, 2**64, -2**63, -2**63 - 1, 10**30, -10**30)


def test_agrees_on_integers_beyond_64_bits():
    # orjson turns these literals into floats where json keeps ints: the fast path must notice
    for name in ("ts", "sessionId", "status", "itemInSession", "registration", "length", "extra"):
        for big in BIG_INTS:
            _same(json.dumps({**BASE, name: big}).encode())
    _same(json.dumps({**BASE, "extra": [1, 10**30]}).encode())
    _same(json.dumps({**BASE, "extra": {"x": 2**64}}).encode())
    _same(json.dumps({**BASE, "length": 1e19}).encode())


def test_agrees_on_what_only_json_accepts():
    good = json.dumps(BASE).encode()
    for raw in (good.replace(b'"Some Song"', b'"\\ud800"'), good.replace(b'"Some Song"', b'"\\udc00x"'),
                good.replace(b"200.5", b"-1e999"), good.replace(b'"Some Song"', b'[' * 2000 + b']' * 2000),
                good[:-1] + b', "extra": ' + b'[' * 1100 + b']' * 1100 + b'}',
                good[:-1] + b', "ts": 1538352000001}', good[:-1] + b', "userId": ""}',
                good[:-1] + b', "length": 1.5, "length": 2}', good + b"  \t\r\n", b" \n" + good):
        _same(raw)


# any JSON value, including what orjson and json might disagree on
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-2**70, 2**70),
                     st.floats(allow_nan=False), st.text())
_json_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                            | st.dictionaries(st.text(max_size=4), inner, max_size=4), max_leaves=12)


def _orjson_matches_json(raw: bytes) -> None:
    try:
        fast = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return  # the fast path hands such lines to classify
    slow = json.loads(raw.decode("utf-8"))
    if _identical(fast, slow):
        return
    # the one known difference: an integer literal beyond 64 bits becomes a float of magnitude >= 2**63
    assert _has_huge_float(fast), raw


def _has_huge_float(value) -> bool:
    if type(value) is float:
        return abs(value) >= 2.0 ** 63
    if type(value) is dict:
        value = list(value.values())
    return type(value) is list and any(_has_huge_float(x) for x in value)


@settings(max_examples=500, deadline=None)
@given(_json_values, st.booleans())
def test_orjson_decodes_like_json(value, ascii_only):
    _orjson_matches_json(json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass"))


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=48), st.sampled_from([b"", b'{"a":', b'["', b'{"ts":1538352000000,"x":']))
def test_orjson_accepts_no_bytes_json_rejects(tail, head):
    _orjson_matches_json(head + tail)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from([f.name for f in FIELDS] + ["extra"]), _json_values, max_size=5))
def test_agrees_on_events_with_any_json_values(changes):
    _same(json.dumps({**BASE, **changes}).encode())
