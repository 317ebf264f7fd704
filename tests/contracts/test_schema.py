"""The display name, made once from an event's name fields for the stream and the benchmark baseline."""
from __future__ import annotations

from contracts.schema import display_name


def test_display_name_joins_the_name_fields_present():
    assert display_name({"firstName": "Colin", "lastName": "Freeman"}) == "Colin Freeman"
    assert display_name({"firstName": "Colin", "lastName": None}) == "Colin"
    assert display_name({"lastName": "Freeman"}) == "Freeman"
    assert display_name({"firstName": None, "lastName": ""}) == "" == display_name({})
