"""contracts.validation.classify: valid, hidden and every invalid reason, and the schema's key order."""
from __future__ import annotations

import json

import pytest

from contracts import validation as v
from contracts.schema import FIELD_NAMES, MAX_LINE_BYTES

GOOD = {
    "ts": 1538352117000, "userId": "30", "sessionId": 29, "page": "NextSong", "auth": "Logged In",
    "method": "PUT", "status": 200, "level": "paid", "itemInSession": 50, "location": "Bakersfield, CA",
    "userAgent": "Mozilla/5.0", "lastName": "Freeman", "firstName": "Colin", "registration": 1538173362000,
    "gender": "M", "artist": "Martha Tilston", "song": "Rockpools", "length": 277.89016,
}
HIDDEN = {"ts": 1538352118000, "userId": "", "sessionId": 8, "page": "Home", "auth": "Logged Out",
          "method": "GET", "status": 200, "level": "free", "itemInSession": 0}


def line(obj) -> bytes:
    return json.dumps(obj).encode()


def test_schema_key_order_is_the_mini_logs():
    assert FIELD_NAMES == ("ts", "userId", "sessionId", "page", "auth", "method", "status", "level",
                           "itemInSession", "location", "userAgent", "lastName", "firstName", "registration",
                           "gender", "artist", "song", "length")


def test_valid_event():
    verdict = v.classify(line(GOOD))
    assert verdict.status == "valid" and verdict.ok and verdict.event["userId"] == "30"


def test_valid_from_text_and_eventsim_style():
    # alphabetical keys, explicit nulls and a float registration (other eventsim copies)
    alt = {k: GOOD[k] for k in sorted(GOOD)} | {"artist": None, "song": None, "length": None, "page": "Home",
                                                "registration": 1538173362000.0}
    assert v.classify(json.dumps(alt)).status == "valid"


def test_hidden_event_with_absent_or_null_user_fields():
    assert v.classify(line(HIDDEN)).status == "hidden"
    assert v.classify(line(HIDDEN | {"location": None, "registration": None})).status == "hidden"
    assert v.classify(line(HIDDEN | {"userId": None})).status == "hidden"


@pytest.mark.parametrize("raw, reason", [
    (b"\xff\xfe{}", v.NOT_UTF8),
    (b'{"ts": 1, "pad": "' + b"x" * MAX_LINE_BYTES + b'"}', v.TOO_LARGE),
    (b'{"ts": 1538352117000, "page": ', v.NOT_JSON),
    (b"garbage", v.NOT_JSON),
    (b'{"ts": 1538352117000, "page": "Home", "length": NaN}', v.NOT_JSON),
    (b"[1, 2]", v.NOT_OBJECT),
    (b'"a string"', v.NOT_OBJECT),
    (line({k: x for k, x in GOOD.items() if k != "ts"}), v.MISSING),
    (line(GOOD | {"page": None}), v.MISSING),
    (line(GOOD | {"ts": "1538352117000"}), v.WRONG_TYPE),
    (line(GOOD | {"sessionId": 1.5}), v.WRONG_TYPE),
    (line(GOOD | {"status": True}), v.WRONG_TYPE),
    (line(GOOD | {"userId": 30}), v.WRONG_TYPE),
    (line(GOOD | {"length": "long"}), v.WRONG_TYPE),
    (line(GOOD | {"page": "Dance"}), v.UNKNOWN_PAGE),
    (line(GOOD | {"ts": 12}), v.BAD_VALUE),
    (line(GOOD | {"ts": 5_000_000_000_000}), v.BAD_VALUE),
])
def test_each_invalid_reason(raw, reason):
    verdict = v.classify(raw)
    assert verdict.status == "invalid" and not verdict.ok
    assert verdict.reason == reason and verdict.reason in v.REASONS


def test_reasons_are_all_exercised():
    """Every reason in REASONS appears in the parametrised cases above (kept in step with the module)."""
    cases = test_each_invalid_reason.pytestmark[0].args[1]
    assert {reason for _, reason in cases} == set(v.REASONS)
