"""Hostile input: hypothesis strategies of raw Kafka values, and a seeded generator of the same for end-to-end runs.

Each strategy builds a line from a good event by one kind of damage (malformed JSON, wrong types, missing and
extra fields, huge lines, invalid UTF-8, unknown pages, timestamps far in the past or future), so a failure
names the kind of input that broke the rule.
"""
from __future__ import annotations

import json

from hypothesis import strategies as st

from contracts.schema import FIELDS, MAX_LINE_BYTES, PAGES, TS_MAX_MS, TS_MIN_MS

GOOD = {"ts": 1538352117000, "userId": "30", "sessionId": 29, "page": "NextSong", "auth": "Logged In",
        "method": "PUT", "status": 200, "level": "paid", "itemInSession": 50, "location": "Bakersfield, CA",
        "userAgent": "Mozilla/5.0", "lastName": "Freeman", "firstName": "Colin", "registration": 1538173362000,
        "gender": "M", "artist": "Martha Tilston", "song": "Rockpools", "length": 277.89016}
FIELD_NAMES = [f.name for f in FIELDS]

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=10)


def _dump(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


good_events = st.builds(
    lambda ts, uid, page: {**GOOD, "ts": ts, "userId": uid, "page": page},
    st.integers(TS_MIN_MS, TS_MAX_MS - 1), st.sampled_from(["1", "2", "300", "", "abc"]), st.sampled_from(PAGES))
wrong_types = st.builds(lambda ev, name, v: {**ev, name: v}, good_events, st.sampled_from(FIELD_NAMES), json_values)
missing = st.builds(lambda ev, names: {k: v for k, v in ev.items() if k not in names}, good_events,
                    st.sets(st.sampled_from(FIELD_NAMES), min_size=1, max_size=6))
extra = st.builds(lambda ev, more: {**more, **ev}, good_events, st.dictionaries(st.text(min_size=1, max_size=10),
                                                                                json_values, max_size=5))
unknown_page = st.builds(lambda ev, p: {**ev, "page": p}, good_events, st.text(max_size=20).filter(lambda p: p not in PAGES))
far_ts = st.builds(lambda ev, ts: {**ev, "ts": ts}, good_events,
                   st.one_of(st.integers(-2**63, TS_MIN_MS - 1), st.integers(TS_MAX_MS, 2**63 - 1),
                             st.floats(allow_nan=False, allow_infinity=False)))
events = st.one_of(good_events, wrong_types, missing, extra, unknown_page, far_ts)


def _truncate(line: bytes, at: int) -> bytes:
    return line[: at % max(1, len(line))]


malformed = st.one_of(
    st.builds(_truncate, events.map(_dump), st.integers(0, 400)),  # cut mid-object
    st.builds(lambda b, junk: b + junk, events.map(_dump), st.sampled_from([b" x", b"}", b",", b"\n{}", b"]"])),
    st.builds(lambda b: b.replace(b'"', b"'"), events.map(_dump)),
    st.sampled_from([b"", b"null", b"[]", b"{}", b"NaN", b"{\"ts\": NaN, \"page\": \"Home\"}", b"[" * 5000,
                     b'{"a":' * 3000 + b"1" + b"}" * 3000]),
    json_values.map(_dump),
    st.binary(max_size=300),
)
invalid_utf8 = st.builds(lambda b, at, bad: b[:at % max(1, len(b))] + bad + b[at % max(1, len(b)):],
                         events.map(_dump), st.integers(0, 400),
                         st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80"]))
huge = st.builds(lambda ev, n: _dump({**ev, "song": "x" * n}), good_events,
                 st.sampled_from([MAX_LINE_BYTES - 400, MAX_LINE_BYTES, MAX_LINE_BYTES + 1, 3 * MAX_LINE_BYTES]))
lines = st.one_of(events.map(_dump), malformed, invalid_utf8, huge)


def drawn_lines(n: int, derandomize: bool = True) -> list[bytes]:
    """``n`` hostile lines drawn by hypothesis itself, one line per example (by default derandomized: the same lines
    every run), for Kafka runs and Spark jobs.

    One line per example, not one list of hundreds of lines per example: a list that big overruns hypothesis's
    per-example choice budget, so ``st.lists(lines, min_size=300)`` only ever yields its trivial example (one line
    repeated) and then spends ~1,000 overrun attempts of a second or so each.
    """
    from hypothesis import HealthCheck, Phase, given, settings

    drawn: list[bytes] = []

    @settings(max_examples=n, database=None, derandomize=derandomize, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), deadline=None)
    @given(lines)
    def collect(line: bytes) -> None:
        drawn.append(line)

    collect()
    return drawn
