"""Progress output (terminal bar vs log lines) and the summary's machine-readable form."""
from __future__ import annotations

import io
import json
from collections import Counter

from producer.progress import Progress, Summary


def _summary() -> Summary:
    return Summary(topic="t", sent=10, acknowledged=9, failed=1, skipped=Counter(not_json=2), dead_lettered=2,
                   dead_letters_acknowledged=2, first_ts=1538352000000, last_ts=1538355600000, elapsed_s=2.0)


def test_terminal_redraws_one_line_with_bar_rate_clock_and_eta():
    out = io.StringIO()
    p = Progress(total=40, stream=out, tty=True, interval=0)
    p.update(_summary(), done=10, ts=1538352000000)
    p.close()
    text = out.getvalue()
    assert text.startswith("\r[######.................")  # 25%
    assert "25.0%" in text and "10 sent" in text and "2018-10-01T00:00:00Z" in text and "ETA 0:00:0" in text
    assert text.endswith("\n") and text.count("\n") == 1


def test_non_terminal_logs_plain_lines():
    out = io.StringIO()
    p = Progress(stream=out, tty=False, interval=0)
    p.update(_summary(), ts=None)
    p.update(_summary(), ts=None)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and all(line.startswith("replay: sent 10 acked 9") for line in lines)
    assert "\r" not in out.getvalue()


def test_summary_counts_and_json():
    s = _summary()
    d = json.loads(s.to_json())
    assert d["unconfirmed"] == 0 and d["events_per_s"] == 4.5 and d["skipped"] == {"not_json": 2}
    assert d["event_time_from"] == "2018-10-01T00:00:00Z" and d["event_time_to"] == "2018-10-01T01:00:00Z"
    text = s.render()
    assert "sent 10, acknowledged 9, failed 1" in text and "not_json 2" in text
