"""Merging files in event time, the deterministic positions, --loop, the window and contiguous acks."""
from __future__ import annotations

import gzip
import json

import pytest

from producer.merge import ReadStats, file_source, merged_items
from producer.stream import StreamOptions, rewrite_ts
from producer.timeparse import parse_event_time
from tests.producer.layouts import named_items as named
from tests.producer.replay_logs import T0, event, make_events, write_log


def test_merge_is_in_event_time_across_files_and_gz(tmp_path):
    events = make_events(300, users=5)
    write_log(tmp_path / "a.jsonl", events[0::3])
    write_log(tmp_path / "b.jsonl", events[1::3])
    write_log(tmp_path / "c.raw", events[2::3])
    (tmp_path / "c.jsonl.gz").write_bytes(gzip.compress((tmp_path / "c.raw").read_bytes()))
    stats = ReadStats()
    got = list(named(file_source([tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl.gz"]), StreamOptions(), stats))
    assert [i.ts for i in got] == sorted(e["ts"] for e in events)
    assert [i.pos for i in got] == list(range(300))
    assert stats.lines == 300 and stats.out_of_order == 0


def test_out_of_order_lines_are_counted_and_kept(tmp_path):
    evs = [event(T0 + d, "1", 1) for d in (0, 10, 5, 20)]
    write_log(tmp_path / "a.jsonl", evs)
    stats = ReadStats()
    got = list(named(file_source([tmp_path / "a.jsonl"]), StreamOptions(), stats))
    assert [i.ts - T0 for i in got] == [0, 10, 5, 20] and stats.out_of_order == 1


def test_bad_lines_keep_their_place_and_positions_are_stable(tmp_path):
    write_log(tmp_path / "a.jsonl", make_events(5), bad_lines={2: b"nope", 4: b'{"ts": 1}'})
    runs = [[(i.pos, i.action, i.verdict.reason) for i in named(file_source([tmp_path / "a.jsonl"]), StreamOptions(), ReadStats())]
            for _ in range(2)]
    assert runs[0] == runs[1]
    assert [a for _, a, _ in runs[0]] == ["send", "send", "invalid", "send", "send", "invalid", "send"]
    assert runs[0][2][2] == "not_json" and runs[0][5][2] == "missing_field"


def test_loop_shifts_by_span_plus_one_second(tmp_path):
    evs = make_events(4)
    write_log(tmp_path / "a.jsonl", evs)
    span = evs[-1]["ts"] - evs[0]["ts"]
    got = list(named(file_source([tmp_path / "a.jsonl"]), StreamOptions(loop=True, limit=10), ReadStats()))
    assert len(got) == 10
    assert [i.ts for i in got] == [e["ts"] + k * (span + 1000) for k in range(3) for e in evs][:10]
    for i in got:
        assert json.loads(i.raw)["ts"] == i.ts


def test_rewrite_ts_touches_only_the_ts_number():
    raw = b'{"song":"\\"ts\\":1538352000000","ts": 1538352000000,"registration":1538352000000}'
    assert rewrite_ts(raw, 1538352000000, 1538352999999) == \
        b'{"song":"\\"ts\\":1538352000000","ts": 1538352999999,"registration":1538352000000}'


def test_window_and_limit(tmp_path):
    evs = make_events(50)
    write_log(tmp_path / "a.jsonl", evs)
    opts = StreamOptions(from_ms=evs[10]["ts"], until_ms=evs[30]["ts"], limit=15)
    got = list(named(file_source([tmp_path / "a.jsonl"]), opts, ReadStats()))
    sent = [i for i in got if i.action == "send"]
    assert len(sent) == 15 and sent[0].ts >= evs[10]["ts"]
    assert all(i.ts < evs[10]["ts"] for i in got if i.action == "window")


@pytest.mark.parametrize("text,ms", [("1538352000000", 1538352000000), ("2018-10-01", 1538352000000),
                                     ("2018-10-01T00:00:01Z", 1538352001000),
                                     ("2018-10-01T02:00:00+02:00", 1538352000000)])
def test_parse_event_time(text, ms):
    assert parse_event_time(text) == ms


def test_parse_event_time_rejects_garbage():
    with pytest.raises(ValueError, match="neither epoch"):
        parse_event_time("yesterday")


def test_parallel_validation_gives_the_same_stream(tmp_path, monkeypatch):
    import producer.parallel_verdicts as pv

    monkeypatch.setattr(pv, "CHUNK_LINES", 7)  # many chunks, a partial last one
    events = make_events(120, users=4, hidden_every=9)
    write_log(tmp_path / "a.jsonl", events[0::2], bad_lines={3: b"nope", 20: b'{"ts": 1538352000000}'})
    write_log(tmp_path / "b.jsonl", events[1::2], bad_lines={0: b"[]"})
    files = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    s1, s2 = ReadStats(), ReadStats()
    serial = list(named(lambda st: merged_items(files, st), StreamOptions(), s1))
    parallel = list(named(lambda st: merged_items(files, st, workers=2), StreamOptions(), s2))
    assert [(i.pos, i.action, i.ts, i.raw, i.verdict.status, i.verdict.reason, i.source, i.lineno) for i in serial] == \
        [(i.pos, i.action, i.ts, i.raw, i.verdict.status, i.verdict.reason, i.source, i.lineno) for i in parallel]
    for a, b in zip(serial, parallel):
        if a.verdict.event is not None:
            assert {k: a.verdict.event.get(k) for k in ("ts", "userId", "sessionId")} == b.verdict.event
    assert (s1.lines, s1.bytes, s1.out_of_order) == (s2.lines, s2.bytes, s2.out_of_order)
