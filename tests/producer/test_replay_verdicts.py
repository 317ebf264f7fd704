"""The producer's fast validity check agrees with contracts.validation.classify on any input."""
from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.schema import FIELDS, PAGES
from contracts.validation import classify
from producer.verdicts import quick_verdict
from tests.producer.replay_logs import event

BASE = event(1_538_352_000_000, "7", 3)
values = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64), st.floats(allow_nan=True),
                   st.text(max_size=8), st.sampled_from(PAGES), st.lists(st.integers(), max_size=2),
                   st.just(""), st.just(1_538_352_000_000), st.just(1e999))


def _same(raw: bytes) -> None:
    q, v = quick_verdict(raw), classify(raw)
    assert (q.status, q.reason, q.detail, q.event) == (v.status, v.reason, v.detail, v.event), raw


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
