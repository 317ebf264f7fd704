"""Pure helpers of the page: escaping, formatting, session risk changes, metric tables, waterfall steps."""
from __future__ import annotations

import math

import pytest

from dashboard import data
from dashboard.changes import MAX_TRACKED, risk_changes
from dashboard.charts import logit, waterfall_frame
from dashboard.formatting import ZWSP, escape_markdown, fmt_ago, fmt_span, fmt_value, redact_url
from dashboard.export import csv_row
from dashboard.formatting import fmt_clock_time, fmt_count, fmt_day
from contracts.features import feature_label
from dashboard.population import sample_offsets
from dashboard.targets import FilterError, Interval, Target, TargetFilter, intervals


@pytest.mark.parametrize("text", ["[x](http://evil)", "![img](http://evil/p.png)", "**boss**", "<b>hi</b>",
                                  ":red[alert]", "$x^2$", "# title", "a_b*c`d"])
def test_escaped_event_text_keeps_no_markdown_syntax_unescaped(text):
    out = escape_markdown(text)
    # every punctuation character is preceded by a backslash, so nothing can form syntax
    i = 0
    while i < len(out):
        if out[i] == "\\":
            i += 2
            continue
        assert out[i].isalnum() or out[i].isspace() or ord(out[i]) > 127, (text, out, i)
        i += 1
    assert out.replace("\\", "").replace(ZWSP, "") == text.replace("\\", "")


def test_escaped_text_cannot_be_autolinked():
    out = escape_markdown("see http://evil.example, www.evil.example or me@evil.example")
    plain = out.replace("\\", "")
    assert "://" not in plain and "www." not in plain and "e@" not in plain
    assert plain.replace(ZWSP, "") == "see http://evil.example, www.evil.example or me@evil.example"


def test_escape_keeps_letters_and_flattens_newlines():
    assert escape_markdown("Zoë O'Brien\nBoston") == "Zoë O\\'Brien Boston"


@pytest.mark.parametrize("ms,text", [(850, "850 ms"), (12_400, "12 s"), (240_000, "4 min"),
                                     (3.5 * 3600_000, "3.5 h"), (2.1 * 86_400_000, "2.1 d"), (None, "—")])
def test_spans(ms, text):
    assert fmt_span(ms) == text


def test_ages_never_go_negative():
    assert fmt_ago(2000, 1000) == "0 ms ago" and fmt_ago(None, 1) == "—"


def test_values():
    assert fmt_value(12.0) == "12" and fmt_value(0.01234) == "0.01234" and fmt_value(None) == "—"


def test_redacted_url_hides_only_the_password():
    assert redact_url("redis://app:s3cret@cache:6379/0") == "redis://app:***@cache:6379/0"
    assert redact_url("rediss://:s3cret@cache:6380/1") == "rediss://:***@cache:6380/1"
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_risk_change_is_relative_to_the_first_sighting_in_the_session():
    seen: dict[str, float] = {}
    assert risk_changes([("a", 0.5), ("b", 0.2)], seen) == [0.0, 0.0]
    assert risk_changes([("a", 0.7), ("b", 0.1), ("c", 0.9)], seen) == pytest.approx([0.2, -0.1, 0.0])


def test_risk_change_memory_is_capped():
    seen: dict[str, float] = {}
    risk_changes([(str(i), 0.1) for i in range(MAX_TRACKED + 10)], seen)
    assert len(seen) == MAX_TRACKED and "0" not in seen


def test_feature_label_falls_back_to_words():
    assert feature_label("no_such_feature_xyz") == "no such feature xyz"


def test_metrics_flatten_nested_sections_and_skip_lists():
    rows = data.flatten_metrics({"f1": 0.6, "backtest": {"f1": 0.5, "curve": [1, 2]}, "thresholds": [0.1]})
    assert rows == [("holdout", "f1", 0.6), ("backtest", "f1", 0.5)]


def test_importance_without_count_is_empty():
    assert data.parse_importance({"a": "3"}) == [] and data.parse_importance({"a": "3", "__n__": "0"}) == []
    imp = data.parse_importance({"a": "3", "b": "9", "__n__": "3"})
    assert [(i.feature, i.mean_abs_shap) for i in imp] == [("b", 3.0), ("a", 1.0)]


def _detail(risk, shap, drivers):
    row = data.UserRow("u1", risk, "high", "paid", True, tuple(data.Driver(f, f, 1, c) for f, c in drivers),
                       None, "n", False)
    return data.UserDetail(row, {k: 1.0 for k in shap}, shap, "F", "x", 3, None, "v", None, None)


def test_waterfall_walks_from_base_value_to_the_score():
    shap = {"a": 1.2, "b": 0.4, "c": -0.3, "d": 0.05, "e": -0.05}
    risk = 1 / (1 + math.exp(-(-2.0 + sum(shap.values()))))
    frame = waterfall_frame(_detail(risk, shap, [("a", 1.2), ("b", 0.4), ("d", 0.05), ("c", -0.3)]))
    assert frame["end"].iloc[0] == pytest.approx(-2.0)  # base value
    steps = frame.iloc[1:-1]
    assert (steps["start"].iloc[1:].to_numpy() == pytest.approx(steps["end"].iloc[:-1].to_numpy()))
    assert steps["end"].iloc[-1] == pytest.approx(logit(risk)) == frame["end"].iloc[-1]
    assert list(steps["kind"]) == ["up", "up", "up", "down", "down"]  # the last is "1 other features" (-0.05)


def test_waterfall_without_a_shap_vector_still_ends_at_the_score():
    frame = waterfall_frame(_detail(0.8, {}, [("a", 0.9), ("c", -0.2)]))
    assert frame["end"].iloc[-2] == pytest.approx(logit(0.8)) and len(frame) == 4


def test_bands_are_the_intervals_band_for_uses():
    pieces = intervals(TargetFilter(0.1, 0.8, bands=("low", "high")), 0.5)
    assert pieces == [Interval(0.5, 0.8, True), Interval(0.1, 0.25, False)]
    assert intervals(TargetFilter(0.6, 0.9, bands=("low",)), 0.5) == []
    assert Interval(0.0, 1.0, True).bounds == ("+inf", "-inf")
    assert Interval(0.25, 0.5, False).bounds == ("(0.5", "0.25")


@pytest.mark.parametrize("filt,needle", [(TargetFilter(0.7, 0.2), "above the maximum"),
                                         (TargetFilter(-0.1, 1), "between 0 and 1"),
                                         (TargetFilter(bands=("hot",)), "unknown band"),
                                         (TargetFilter(status="gone"), "unknown status")])
def test_impossible_filters_are_refused(filt, needle):
    with pytest.raises(FilterError, match=needle):
        filt.check()


def test_the_sample_spreads_evenly_over_the_ranking():
    assert sample_offsets(10, 1500) == [(0, 9)] and sample_offsets(0) == []
    blocks = sample_offsets(22_000, 1500, 50)
    assert len(blocks) == 30 and blocks[0] == (0, 49) and blocks[-1] == (21_950, 21_999)
    assert all(b[0] > a[1] for a, b in zip(blocks, blocks[1:]))  # no overlap


def test_csv_cells_a_spreadsheet_would_run_get_an_apostrophe():
    row = data.UserRow("u1", 0.71234, "high", "paid", True, (data.Driver("a", "adverts", 1, 0.4),), 0,
                       "=HYPERLINK(\"http://evil\")", False)
    line = csv_row(Target(row, 1_542_672_000_000, None, None))
    assert line[:5] == ["u1", "'=HYPERLINK(\"http://evil\")", "paid", "0.7123", "high"]
    assert line[5] == "adverts ↑" and line[6] == "1970-01-01 00:00:00" and line[7] == "2018-11-20 00:00:00"


def test_short_tile_texts():
    assert fmt_count(987) == "987" and fmt_count(12_345) == "12.3k" and fmt_count(4_500_000) == "4.5M"
    assert fmt_day(1_542_672_000_000) == "20 Nov" and fmt_clock_time(1_542_672_000_000) == "2018 · 00:00 UTC"
    assert fmt_count(None) == fmt_day(None) == "—" and fmt_clock_time(None) is None
