"""producer profile: figures of a log, malformed lines, --json/--compare, and the done-when calibration."""
from __future__ import annotations

import json

import pytest

from producer.cli import main
from producer.logfiles import iter_lines
from producer.profile import MINI_REFERENCE, comparison_rows, profile
from producer.simulator import SimConfig, generate

EVENT = ('{"ts":%d,"userId":"%s","sessionId":%d,"page":"%s","auth":"Logged In","method":"PUT","status":200,'
         '"level":"%s","itemInSession":%d,"gender":"%s","registration":1538173362000%s}')


def _song(length: float) -> str:
    return ',"artist":"A","song":"S","length":%r' % length


@pytest.fixture
def tiny(tmp_path):
    """Hand-made log whose figures are known: 2 users, 3 sessions, 1 churner, 1 hidden, 2 bad lines."""
    lines = [
        EVENT % (1538352000000, "1", 1, "NextSong", "free", 0, "F", _song(200.0)),
        EVENT % (1538352200000, "1", 1, "NextSong", "free", 1, "F", _song(300.0)),
        '{"ts":1538352300000,"userId":"","sessionId":9,"page":"Home","auth":"Logged Out","method":"GET",'
        '"status":200,"level":"free","itemInSession":0}',
        "not json at all",
        EVENT % (1538438400000, "1", 2, "Home", "paid", 0, "F", ""),
        EVENT % (1538438500000, "2", 3, "NextSong", "paid", 0, "M", _song(250.0)),
        '{"ts":1538438600000,"userId":"2","sessionId":3,"page":"Dance"}',
        EVENT % (1538438700000, "2", 3, "Cancellation Confirmation", "paid", 1, "M", ""),
    ]
    path = tmp_path / "tiny.json"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_profile_figures(tiny):
    s = profile(iter_lines([tiny]))
    assert (s["lines"], s["events"], s["malformed"]) == (8, 6, 2)
    assert s["malformed_reasons"] == {"not_json": 1, "unknown_page": 1}
    assert [(m["lineno"], m["reason"]) for m in s["malformed_examples"]] == [(4, "not_json"), (7, "unknown_page")]
    assert all(m["source"] == str(tiny) for m in s["malformed_examples"])
    assert (s["users"], s["churned_users"], s["churn_rate"]) == (2, 1, 0.5)
    assert s["page_counts"] == {"NextSong": 3, "Home": 2, "Cancellation Confirmation": 1}
    assert s["auth_counts"] == {"Logged In": 5, "Logged Out": 1}
    assert s["paid_share_logged_in"] == pytest.approx(3 / 5)
    assert s["sessions_per_user_mean"] == 1.5 and s["sessions_per_user_max"] == 2
    assert s["songs_per_session"] == 1.0
    assert s["songs_per_session_free"] == 2.0 and s["songs_per_session_paid"] == pytest.approx(1 / 2)
    assert s["song_length_mean"] == pytest.approx(250.0) and s["song_length_sd"] == pytest.approx(50.0)
    assert s["gender_counts"] == {"F": 1, "M": 1}
    assert (s["first_day"], s["last_day"]) == ("2018-10-01", "2018-10-02")


def test_profile_cli_text_json_and_compare(tiny, capsys):
    assert main(["profile", str(tiny), "--compare", "mini"]) == 0
    out, err = capsys.readouterr()
    assert "users 2, churned 1" in out and f"{tiny}:4: not_json" in out and "mini log" in out
    assert "2 malformed line(s) skipped" in err
    assert main(["profile", str(tiny), "--json", "--compare", "mini"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    doc = json.loads(out[0])
    assert doc["events"] == 6 and doc["compare"]["rows"][0]["metric"] == "events"


def test_profile_cli_missing_path_is_one_line(tmp_path, capsys):
    assert main(["profile", str(tmp_path / "nope.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err


def test_truncated_gzip_is_one_line(tmp_path, capsys):
    import gzip

    data = gzip.compress(b'{"ts":1538352000000,"page":"Home"}\n' * 5000)
    (tmp_path / "cut.json.gz").write_bytes(data[: len(data) // 2])
    assert main(["profile", str(tmp_path / "cut.json.gz")]) == 2
    assert capsys.readouterr().err.strip().startswith("error: cannot read the log")


# Done-when bounds against the published mini log (design notes section 5).
CHURN_POINTS, PAGE_REL, PAID_POINTS, SESSION_REL = 0.06, 0.20, 0.08, 0.25


def check_bounds(s: dict) -> list[str]:
    """The bounds a calibrated simulated log must meet; returns the failures."""
    ref = MINI_REFERENCE
    fails = []
    if abs(s["churn_rate"] - ref["churn_rate"]) > CHURN_POINTS:
        fails.append(f"churn {s['churn_rate']:.3f}")
    ref_total = sum(ref["page_counts"].values())
    for page in sorted(ref["page_counts"], key=lambda p: -ref["page_counts"][p])[:12]:
        want = ref["page_counts"][page] / ref_total
        if abs(s["page_shares"].get(page, 0) / want - 1) > PAGE_REL:
            fails.append(f"{page} share {s['page_shares'].get(page, 0):.4f} vs {want:.4f}")
    if abs(s["paid_share_logged_in"] - ref["paid_share_logged_in"]) > PAID_POINTS:
        fails.append(f"paid share {s['paid_share_logged_in']:.3f}")
    for key in ("sessions_per_user_mean", "songs_per_session"):
        if abs(s[key] / ref[key] - 1) > SESSION_REL:
            fails.append(f"{key} {s[key]:.1f}")
    return fails


def test_done_when_simulated_log_profiles_like_the_mini_log(tmp_path, capsys):
    out = tmp_path / "mini_sim.json"
    assert main(["generate", "--users", "225", "--days", "63", "--seed", "1", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["profile", str(out), "--json", "--compare", "mini"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["malformed"] == 0
    assert check_bounds(summary) == []
    assert {r[0] for r in comparison_rows(summary)} >= {"churn_rate", "share NextSong"}
