"""The usage summary of one user, in the project's own features, each figure next to the active users' mean.

A measure is a function of a feature mapping that works the same on one user's ``features`` dict and on the
sample's feature frame (columns), so the user's figure and the population's are computed one way. The mean
comes from :mod:`dashboard.population`'s bounded sample of active users (all of them when few).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

from dashboard.data import UserDetail
from dashboard.population import Sample


def _get(f: Any, name: str) -> Any:
    value = f.get(name) if hasattr(f, "get") else None
    if isinstance(value, pd.Series):
        return value.astype(float)
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _ratio(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if isinstance(a, pd.Series) or isinstance(b, pd.Series):
        return (a / b.where(b != 0)) if isinstance(b, pd.Series) else (a / b if b else None)
    return a / b if b else None


def tenure(f: Any) -> Any:
    return _get(f, "tenure_days")


def thumbs_up_share(f: Any) -> Any:
    up, down = _get(f, "thumbs_up_per_song"), _get(f, "thumbs_down_per_song")
    return None if up is None or down is None else _ratio(up, up + down)


def adverts_per_song(f: Any) -> Any:
    return _get(f, "adverts_per_song")


def sessions_per_day(f: Any) -> Any:
    return _get(f, "sessions_per_day")


def songs_per_session(f: Any) -> Any:
    return _get(f, "songs_per_session")


def other_actions_per_day(f: Any) -> Any:
    events, songs = _get(f, "events_per_day"), _get(f, "songs_per_day")
    return None if events is None or songs is None else events - songs


@dataclass(frozen=True)
class Measure:
    label: str
    compute: Callable[[Any], Any]
    value_format: str
    delta_format: str
    help: str
    scale: float = 1.0


MEASURES: tuple[Measure, ...] = (
    Measure("Account age", tenure, "{:,.0f} d", "{:+,.0f} d vs avg", "Days since registration."),
    Measure("Thumbs-up share", thumbs_up_share, "{:.0f} %", "{:+.0f} pts vs avg",
            "Thumbs up as a share of all thumbs (up and down).", scale=100.0),
    Measure("Adverts / song", adverts_per_song, "{:.3f}", "{:+.3f} vs avg", "Adverts heard per song played."),
    Measure("Sessions / day", sessions_per_day, "{:.2f}", "{:+.2f} vs avg", "Sessions per day of the account's life."),
    Measure("Songs / session", songs_per_session, "{:.1f}", "{:+.1f} vs avg",
            "Average session length, in songs played."),
    Measure("Other actions / day", other_actions_per_day, "{:.1f}", "{:+.1f} vs avg",
            "Interactions that are not songs (pages, thumbs, adverts, settings ...) per day."),
)


@dataclass(frozen=True)
class Tile:
    label: str
    value: str
    delta: str | None
    help: str
    #: the delta is a fact about the population, not a signed difference (shown without an arrow)
    plain: bool = False


def _finite(x: Any) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def population_mean(measure: Measure, sample: Sample | None) -> float | None:
    if sample is None or sample.size == 0:
        return None
    series = measure.compute(sample.values)
    if not isinstance(series, pd.Series):
        return None
    series = series.replace([np.inf, -np.inf], np.nan).dropna()
    return _finite(series.mean()) if len(series) else None


def usage_tiles(detail: UserDetail, sample: Sample | None) -> list[Tile]:
    """Status, level and the measures of :data:`MEASURES`, each with its delta to the active users' mean."""
    n = sample.size if sample is not None else 0
    basis = f"the mean over {n:,} sampled active users" if n else "no population sample yet"
    row = detail.row
    paid = None
    if sample is not None and n:
        paid = float((sample.levels == "paid").mean())
    tiles = [Tile("Status", "Cancelled" if row.churned else "Active", None,
                  "Cancelled users keep their last score." if row.churned else "Active: not cancelled."),
             Tile("Level", row.level or "—", f"{paid * 100:.0f} % paid" if paid is not None else None,
                  f"Subscription level; below it, the share of paid users in {basis}.", plain=True)]
    for m in MEASURES:
        value = _finite(m.compute(detail.features))
        mean = population_mean(m, sample)
        tiles.append(Tile(m.label, m.value_format.format(value * m.scale) if value is not None else "—",
                          m.delta_format.format((value - mean) * m.scale) if value is not None and mean is not None
                          else None,
                          f"{m.help} Delta: against {basis}" + (f" ({m.value_format.format(mean * m.scale)})."
                                                                if mean is not None else ".")))
    return tiles
