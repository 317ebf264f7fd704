"""The simulator: format, determinism, eventsim's rules, truth file, exact hazard, cohorts, calibration."""
from __future__ import annotations

import gzip
import json
import math
from collections import defaultdict

import pytest

from contracts.schema import FIELD_NAMES
from contracts.truth import read_truth, truth_path
from contracts.validation import classify
from producer.cli import main
from producer.simulator import CohortError, SimConfig, generate, parse_mix, simulate
from producer.simulator.chain import daily_hazard, session_stats
from producer.simulator.clock import OffDays, us_holidays, warp

USER_FIELDS = ("location", "userAgent", "lastName", "firstName", "registration", "gender")


@pytest.fixture(scope="module")
def small_log(tmp_path_factory):
    """A small log with growth users (Guests who register) and high-churn cohorts, plus its events."""
    out = tmp_path_factory.mktemp("sim") / "small.json"
    config = SimConfig(users=60, days=21, seed=5, growth=3.0, workers=1,
                       cohorts=parse_mix("Accordion=1,Tuba=1,Oboe=1,Xylophone=1"))
    result = generate(config, out)
    raw = out.read_bytes().splitlines()
    return config, result, raw, [json.loads(x) for x in raw]


def test_output_format_and_order(small_log):
    config, result, raw, events = small_log
    assert result.events == len(events) > 1000
    ts = [e["ts"] for e in events]
    assert ts == sorted(ts)
    assert all(t % 1000 == 0 and config.start_s * 1000 <= t < config.end_s * 1000 for t in ts)
    for line, e in zip(raw, events):
        assert classify(line).ok
        keys = list(e)
        assert keys == [k for k in FIELD_NAMES if k in e]  # the mini log's key order
        assert line == json.dumps(e, separators=(",", ":")).encode()  # compact, escaped like the real log
        hidden = e["auth"] in ("Guest", "Logged Out")
        assert (e["userId"] == "") == hidden
        assert all((k in e) != hidden for k in USER_FIELDS)
        assert ("song" in e) == (e["page"] == "NextSong")


def test_sessions_follow_eventsims_rules(small_log):
    _, _, _, events = small_log
    by_session = defaultdict(list)
    for e in events:
        by_session[e["sessionId"]].append(e)
    by_user = defaultdict(list)
    registrations = 0
    for sid, evs in by_session.items():
        assert [e["itemInSession"] for e in evs] == list(range(len(evs)))  # hidden events counted too
        for prev, cur in zip(evs, evs[1:]):
            if cur["status"] == 307:
                assert cur["ts"] - prev["ts"] == 1000
            if cur["page"] == "NextSong" and prev["page"] == "NextSong":
                assert cur["ts"] - prev["ts"] == int(prev["length"]) * 1000
            if cur["level"] != prev["level"]:
                assert prev["page"] in ("Submit Upgrade", "Submit Downgrade")
            if prev["page"] == "Submit Registration" and cur["auth"] == "Logged In":
                registrations += 1
                assert cur["registration"] == cur["ts"]  # registered when first logged in
        for e in evs:
            if e["userId"]:
                by_user[e["userId"]].append(e)
    assert registrations > 0
    churned = 0
    for uid, evs in by_user.items():
        pages = [e["page"] for e in evs]
        if "Cancellation Confirmation" in pages:
            churned += 1
            assert pages[-1] == "Cancellation Confirmation" and pages[-2] == "Cancel"
            assert evs[-1]["auth"] == "Cancelled" and pages.count("Cancellation Confirmation") == 1
        assert len({(e["gender"], e["location"], e["lastName"], e["registration"]) for e in evs}) == 1
    assert churned > 3


def test_truth_file_matches_the_log(small_log):
    config, result, _, events = small_log
    truths = {t.userId: t for t in read_truth(truth_path(result.path))}
    visible = defaultdict(list)
    for e in events:
        if e["userId"]:
            visible[e["userId"]].append(e)
    assert set(truths) == set(visible)
    for uid, evs in visible.items():
        t = truths[uid]
        cancel = [e["ts"] for e in evs if e["page"] == "Cancellation Confirmation"]
        assert t.cancel_ts == (cancel[0] if cancel else None)
        assert t.registration == evs[0]["registration"]
        for e in evs:  # the level history gives every event's level
            level = [lvl for ts, lvl in t.level_history if ts <= e["ts"]][-1]
            assert level == e["level"]
        assert set(t.daily_hazard) == {"free", "paid"} and all(h > 0 for h in t.daily_hazard.values())


def test_same_seed_same_bytes_whatever_the_workers(tmp_path):
    base = SimConfig(users=40, days=10, seed=9, growth=1.0)
    generate(base.__class__(**{**base.__dict__, "workers": 1, "chunk_users": 7}), tmp_path / "a.json")
    generate(base.__class__(**{**base.__dict__, "workers": 2, "chunk_users": 16}), tmp_path / "b.json")
    generate(base, tmp_path / "c.json.gz")
    generate(base, tmp_path / "d.json.gz")
    generate(base.__class__(**{**base.__dict__, "seed": 10}), tmp_path / "e.json")
    a = (tmp_path / "a.json").read_bytes()
    assert a == (tmp_path / "b.json").read_bytes()
    assert (tmp_path / "c.json.gz").read_bytes() == (tmp_path / "d.json.gz").read_bytes()
    assert gzip.decompress((tmp_path / "c.json.gz").read_bytes()) == a
    assert (tmp_path / "e.json").read_bytes() != a
    assert (tmp_path / "a.truth.jsonl").read_bytes() == (tmp_path / "b.truth.jsonl").read_bytes()
    # the streaming API yields the same events as the file
    truths: list = []
    streamed = list(simulate(base, truths))
    assert b"".join(line + b"\n" for _, line in streamed) == a
    assert [ts for ts, _ in streamed] == [json.loads(line)["ts"] for _, line in streamed]
    assert len(truths) == sum(1 for _ in read_truth(tmp_path / "a.truth.jsonl"))


def test_hazard_matches_realised_cancellations():
    """Over many users, cancellations observed = the integral of the truth's daily hazard (within noise)."""
    config = SimConfig(users=1200, days=28, seed=21, growth=0.0, workers=2,
                       cohorts=parse_mix("Tuba=1,Oboe=1,Zither=1,Accordion=1,Xylophone=1,Horn=1"))
    truths: list = []
    for _ in simulate(config, truths):
        pass
    end_ms = config.end_s * 1000
    expected = 0.0
    for t in truths:
        start = max(t.registration, config.start_s * 1000)
        stop = t.cancel_ts if t.cancel_ts is not None else end_ms
        hist = t.level_history
        for k, (ts, level) in enumerate(hist):
            a = max(ts, start)
            b = min(hist[k + 1][0] if k + 1 < len(hist) else stop, stop)
            if b > a:
                expected += t.daily_hazard[level] * (b - a) / 86_400_000
    observed = sum(t.cancel_ts is not None for t in truths)
    assert expected > 150
    assert abs(observed - expected) < 3 * math.sqrt(expected) + 0.03 * expected, (observed, expected)


def test_behaviour_cohorts_carry_churn_signal(tmp_path):
    """Grumpy/ad-heavy users see more thumbs down and adverts and cancel more than happy users."""
    config = SimConfig(users=500, days=35, seed=4, growth=0.0, workers=2,
                       cohorts=parse_mix("Zither=1,Tuba=1,Xylophone=1,Whistle=1"))
    result = generate(config, tmp_path / "c.json")
    cohort = {t.userId: t.cohort for t in read_truth(result.truth_path)}
    churned = {t.userId for t in read_truth(result.truth_path) if t.cancel_ts is not None}
    counts = defaultdict(lambda: defaultdict(int))
    for line in result.path.read_bytes().splitlines():
        e = json.loads(line)
        if e["userId"]:
            counts[cohort[e["userId"]]][e["page"]] += 1
    happy, grumpy = ("Xylophone", "Whistle"), ("Zither", "Tuba")

    def rate(group, page):
        return sum(counts[c][page] for c in group) / sum(counts[c]["NextSong"] for c in group)

    def churn(group):
        users = [u for u, c in cohort.items() if c in group]
        return sum(u in churned for u in users) / len(users)

    assert rate(grumpy, "Thumbs Down") > 1.5 * rate(happy, "Thumbs Down")
    assert rate(grumpy, "Roll Advert") > 1.2 * rate(happy, "Roll Advert")
    assert rate(happy, "Thumbs Up") > 1.3 * rate(grumpy, "Thumbs Up")
    assert churn(grumpy) > 2 * churn(happy)


def test_chain_statistics():
    stats = session_stats("Accordion")
    li_paid = stats[("Logged In", "paid")]
    assert 0 < li_paid.p_cancel < 0.05
    assert 80 < li_paid.visits["NextSong"] < 120  # paid sessions are long (mini log ~103 songs)
    assert stats[("Logged In", "free")].visits["NextSong"] < 40
    assert sum(li_paid.ends.values()) + li_paid.p_cancel == pytest.approx(1.0)
    assert daily_hazard("Tuba", 90, 604_800, 0.3)["free"] > 5 * daily_hazard("Xylophone", 90, 604_800, 0.3)["free"]
    # more frequent sessions => proportionally higher hazard
    fast, slow = daily_hazard("Accordion", 90, 86_400, 0.0), daily_hazard("Accordion", 90, 864_000, 0.0)
    assert fast["paid"] > 3 * slow["paid"]


def test_calendar():
    assert {"2018-11-22", "2018-12-25", "2018-10-08"} <= {d.isoformat() for d in us_holidays(2018)}
    start = 1538352000  # Mon 2018-10-01 00:00 UTC
    off = OffDays(start, 14)
    day = 86_400
    assert off.weight(start + 2 * day + 12 * 3600) == 0.0  # Wednesday noon
    assert off.weight(start + 5 * day + 12 * 3600) == 1.0  # Saturday noon
    assert off.weight(start + 4 * day + 21 * 3600) == pytest.approx(0.0)  # ramp starts Fri 21:00
    assert off.weight(start + 5 * day) == pytest.approx(0.5)  # half way at midnight
    assert off.weight(start + 7 * day + 12 * 3600) == 1.0  # Columbus Day (Monday 2018-10-08)
    assert off.weight(start + 8 * day + 3 * 3600) == pytest.approx(0.0)  # Tuesday 03:00
    assert 0.28 < off.fraction < 0.36  # 4 weekend days + Columbus Day in 14 days
    hours = [0] * 24
    for k in range(24 * 60):
        hours[int(warp(start + k * 60.0, 0.09375) % day // 3600)] += 1
    assert hours.index(max(hours)) in (14, 15) and hours.index(min(hours)) in (2, 3)


def test_cohort_mix_parsing():
    assert parse_mix("Accordion=3,Zither=1") == {"Accordion": 0.75, "Zither": 0.25}
    assert abs(sum(parse_mix(None).values()) - 1) < 1e-12
    for bad in ("Nope=1", "Zither=x", "Zither=-1", "Zither=0"):
        with pytest.raises(CohortError):
            parse_mix(bad)


def test_generate_cli_errors_are_one_line(tmp_path, capsys):
    for argv in (["--users", "0"], ["--start", "2018-02-30"], ["--cohorts", "Banana=1"], ["--days", "0"],
                 ["--out", str(tmp_path)]):
        assert main(["generate", "--out", str(tmp_path / "x.json"), *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err
