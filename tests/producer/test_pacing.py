"""The pacer schedules against an absolute start, so late wake-ups never accumulate into drift."""
from __future__ import annotations

import pytest

from producer.pacing import Pacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rate_targets_are_absolute_and_catch_up_after_a_late_wakeup():
    clock = FakeClock()
    p = Pacer(rate=1000, clock=clock)
    assert p.delay(0) == 0.0  # event 0 at the start
    assert p.delay(0) == pytest.approx(0.001)
    clock.now += 0.5  # we woke up very late (a pause, a GC, a loaded machine)
    # events 2.. are now overdue: no wait until the schedule is caught up, and no drift afterwards
    delays = [p.delay(0) for _ in range(498)]  # events 2..499, due at 100.002 .. 100.499
    assert all(d == 0.0 for d in delays)
    assert p.delay(0) == pytest.approx(0.0)  # event 500 due at 100.5 exactly
    assert p.delay(0) == pytest.approx(0.001)  # event 501


def test_rate_over_an_hour_has_no_accumulated_error():
    clock = FakeClock()
    p = Pacer(rate=100, clock=clock)
    for _ in range(360_000):  # one hour of events, each sent when due plus 0.3 ms of oversleep
        clock.now += p.delay(0) + 0.0003
    # per-event sleeps would be 108 s late by now; the absolute schedule is late by one oversleep only
    assert clock.now - 100.0 == pytest.approx(3600 - 1 / 100 + 0.0003, abs=1e-6)


def test_speed_follows_event_time_from_the_first_event():
    clock = FakeClock()
    p = Pacer(speed=60.0, clock=clock)  # one event-minute per wall second
    assert p.delay(1_000_000) == 0.0
    assert p.delay(1_000_000 + 60_000) == pytest.approx(1.0)
    clock.now += 2.0
    assert p.delay(1_000_000 + 120_000) == 0.0  # due at +2 s
    assert p.delay(1_000_000 + 300_000) == pytest.approx(3.0)
    assert p.delay(999_000) == 0.0  # an out-of-order event earlier than the first one is due at once


def test_unpaced_never_waits_and_bad_values_are_refused():
    assert Pacer().delay(5) == 0.0 and not Pacer().paced
    with pytest.raises(ValueError):
        Pacer(rate=0)
    with pytest.raises(ValueError):
        Pacer(speed=2, rate=3)
