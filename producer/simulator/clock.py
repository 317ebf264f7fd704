"""When sessions start: exponential gaps, a daily sine warp, and weekend/US-holiday rejection.

All times are epoch seconds (UTC). ``OffDays`` tabulates, for the simulated window, whether each day is a
weekend day or a US federal holiday, so that the ramped rejection weight is a table look-up.
"""
from __future__ import annotations

import datetime as dt
import math

from producer.simulator import model

DAY_S = 86_400


def us_holidays(year: int) -> set[dt.date]:
    """US federal holidays of a year (observed dates are not shifted: the day itself is 'off')."""
    def nth_weekday(month: int, weekday: int, n: int) -> dt.date:
        d = dt.date(year, month, 1)
        d += dt.timedelta(days=(weekday - d.weekday()) % 7)
        return d + dt.timedelta(weeks=n - 1)

    def last_weekday(month: int, weekday: int) -> dt.date:
        d = dt.date(year + (month == 12), month % 12 + 1, 1) - dt.timedelta(days=1)
        return d - dt.timedelta(days=(d.weekday() - weekday) % 7)

    return {
        dt.date(year, 1, 1), nth_weekday(1, 0, 3), nth_weekday(2, 0, 3), last_weekday(5, 0),
        dt.date(year, 7, 4), nth_weekday(9, 0, 1), nth_weekday(10, 0, 2), dt.date(year, 11, 11),
        nth_weekday(11, 3, 4), dt.date(year, 12, 25),
    }


class OffDays:
    """Weekend/holiday weights of a window of days, with the ramp around midnight."""

    def __init__(self, start_s: int, days: int, margin_days: int = 400):
        self.origin = (start_s // DAY_S - 2) * DAY_S
        n = days + margin_days + 4
        first = dt.date(1970, 1, 1) + dt.timedelta(days=self.origin // DAY_S)
        holidays: set[dt.date] = set()
        for y in range(first.year, first.year + n // 365 + 2):
            holidays |= us_holidays(y)
        self.off = [0.0] * n
        for i in range(n):
            d = first + dt.timedelta(days=i)
            self.off[i] = 1.0 if d.weekday() >= 5 or d in holidays else 0.0
        w0 = start_s // DAY_S - self.origin // DAY_S
        window = self.off[w0:w0 + days]
        #: share of off days in the simulated window (for the expected session rate)
        self.fraction = sum(window) / max(len(window), 1)

    def weight(self, t: float) -> float:
        """1 on an off day, 0 on a working day, linear over the 6 h ramp around each midnight."""
        rel = t - self.origin
        i = int(rel // DAY_S)
        if i < 1 or i + 1 >= len(self.off):
            return 0.0
        sec = rel - i * DAY_S
        lead, ramp = model.WEEKEND_RAMP_LEAD_S, model.WEEKEND_RAMP_S
        if sec >= DAY_S - lead:  # ramp into tomorrow
            a, b, x = self.off[i], self.off[i + 1], sec - (DAY_S - lead)
        elif sec < ramp - lead:  # ramp out of yesterday
            a, b, x = self.off[i - 1], self.off[i], sec + lead
        else:
            return self.off[i]
        return a + (b - a) * x / ramp


def warp(t: float, damping: float) -> float:
    """Pull a time towards the daily peak (15:00): density peaks there and bottoms out at 03:00."""
    frac = (t % DAY_S) / DAY_S
    return t - damping * DAY_S * math.sin(2 * math.pi * (frac - model.PEAK_HOUR / 24))
