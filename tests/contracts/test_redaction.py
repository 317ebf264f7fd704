"""URL redaction, the one used by the streaming job's logs, the dashboard page and its CLI."""
from __future__ import annotations

from contracts.redaction import redact_url


def test_only_the_password_is_hidden():
    assert redact_url("redis://app:s3cret@cache:6379/0") == "redis://app:***@cache:6379/0"
    assert redact_url("rediss://:s3cret@cache:6380/1?ssl_cert_reqs=none") == "rediss://:***@cache:6380/1?ssl_cert_reqs=none"
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_a_password_with_url_syntax_in_it_does_not_leak():
    url = "redis://u:p%40ss:w@rd@host:6379/0"
    assert "p%40ss" not in redact_url(url) and "rd@" not in redact_url(url).split("***")[1]


def test_an_unparseable_url_gives_a_marker_not_an_error():
    assert redact_url("redis://[::1") == "<invalid url>"
