"""Kafka offsets as Spark writes them, read by one parser: the checkpoint's offset log and the progress' lag."""
from __future__ import annotations

import json

from streaming.offsets import batch_offsets, lag, parse_offsets


def test_offsets_parse_from_text_or_decoded_json():
    assert parse_offsets('{"t": {"0": 5, "1": 7}}') == {"t": {"0": 5, "1": 7}}
    assert parse_offsets({"t": {"1": "7"}}) == {"t": {"1": 7}}
    assert parse_offsets(None) == {} == parse_offsets("")


def test_batch_offsets_come_from_the_offset_log_or_the_initial_offsets(tmp_path):
    (tmp_path / "offsets").mkdir()
    (tmp_path / "sources" / "0").mkdir(parents=True)
    (tmp_path / "sources" / "0" / "0").write_text('v1\n{"t":{"0":0,"1":0}}')
    (tmp_path / "offsets" / "0").write_text('v1\n{"batchWatermarkMs":0}\n{"t":{"0":10,"1":4}}\n')
    (tmp_path / "offsets" / "1").write_text('v1\n{"batchWatermarkMs":0}\n{"t":{"0":25,"1":4,"2":3}}\n')
    assert batch_offsets(tmp_path, 0) == ({"t": {"0": 0, "1": 0}}, {"t": {"0": 10, "1": 4}})
    assert batch_offsets(tmp_path, 1) == ({"t": {"0": 10, "1": 4}}, {"t": {"0": 25, "1": 4, "2": 3}})


def test_lag_is_latest_minus_end_over_partitions():
    progress = {"sources": [{"latestOffset": json.dumps({"t": {"0": 100, "1": 50}}),
                             "endOffset": {"t": {"0": 90, "1": 50}}},
                            {"latestOffset": {"u": {"0": 3}}, "endOffset": None}]}
    assert lag(progress) == 10 + 0 + 3
    assert lag({}) == 0
