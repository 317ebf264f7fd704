"""Per-user features, defined once for batch training and for the streaming job.

Two layers, so that per-event work stays in the JVM and Python only runs once per user:

1. **Raw aggregates** (:data:`AGGREGATES`): plain sums, mins, maxes and "latest value" over a user's events,
   written as Spark Column expressions. Spark computes them natively in a batch ``groupBy`` and in a streaming
   ``groupBy`` (update mode) alike: only ``sum``, ``min`` and ``max`` are used (``max`` over a
   ``struct(ts, value)`` gives the latest value with a deterministic tie-break). Each is *mergeable*, so
   training can aggregate the log once per (user, day) and merge the partials for every cutoff.
   Recent activity without windows uses exponentially decayed counts: ``S = sum(exp((ts - epoch_ms) / tau))``
   is a plain sum, and the decayed count as of ``t`` is ``S * exp(-(t - epoch_ms) / tau)``.
2. **Model features** (:func:`model_features`): vectorised numpy formulas of the raw aggregates and an as-of
   time (rates, ratios, tenure, recency, trends). Training calls it with each cutoff, streaming with the
   stream's event-time clock.

The label pages (``Cancel``, ``Cancellation Confirmation``) never feed a feature. ``n_events`` and ``last_ts``
count every valid event, because the Redis writer orders and counts a user's writes by them; the features read
their label-free counterparts (``n_label_events`` is subtracted, ``last_activity_ts`` skips label pages, the
paid and decayed event counts skip them). ``churn_ts`` is aggregated only so that streaming can mark churned
users and training can drop them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np
import pandas as pd

from contracts.schema import CANCEL_PAGE, LABEL_PAGES, PAGES

#: Bump whenever an aggregate or a feature formula changes: artifacts trained on another version are refused.
FEATURE_VERSION = "3"

DAY_MS = 86_400_000
#: Horizons (days) of the exponentially decayed counts.
TAUS_DAYS: tuple[int, ...] = (7, 30)

Merge = Literal["sum", "min", "max", "last"]


@dataclass(frozen=True)
class Aggregate:
    """One raw per-user aggregate: a per-event expression and how partial results combine."""
    name: str
    #: builds the per-event Column; receives epoch_ms (only the decayed sums use it)
    expr: Callable[[int], object]
    merge: Merge


def _snake(page: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", page.lower()).strip("_")


def _col(name: str):
    from pyspark.sql import functions as F

    return F.col(name)


def _is_page(page: str):
    from pyspark.sql import functions as F

    return F.when(F.col("page") == page, F.lit(1)).otherwise(F.lit(0))


def _decayed(condition_page: str | None, tau_days: int) -> Callable[[int], object]:
    def build(epoch_ms: int):
        from pyspark.sql import functions as F

        weight = F.exp((F.col("ts") - F.lit(epoch_ms)).cast("double") / F.lit(float(tau_days * DAY_MS)))
        if condition_page is None:
            return F.when(_not_label(), weight).otherwise(F.lit(0.0))
        return F.when(F.col("page") == condition_page, weight).otherwise(F.lit(0.0))

    return build


def _not_label():
    from pyspark.sql import functions as F

    return ~F.col("page").isin(*sorted(LABEL_PAGES))


#: Pages counted per user: every page a logged-in user can visit, except the label pages.
COUNTED_PAGES: tuple[str, ...] = tuple(
    p for p in PAGES if p not in LABEL_PAGES and p not in ("Login", "Register", "Submit Registration")
)
#: Pages (None = every event but the label pages) whose decayed counts are kept, with their short names.
DECAYED: tuple[tuple[str, str | None], ...] = (
    ("events", None), ("songs", "NextSong"), ("thumbs_down", "Thumbs Down"), ("thumbs_up", "Thumbs Up"),
    ("adverts", "Roll Advert"),
)


#: The decayed-sum aggregates and their horizon in days.
DECAYED_COLUMNS: dict[str, int] = {f"dk{tau}_{short}": tau for short, _ in DECAYED for tau in TAUS_DAYS}


def _build_aggregates() -> tuple[Aggregate, ...]:
    from_col = lambda name: (lambda _e: _col(name))  # noqa: E731
    aggs: list[Aggregate] = [
        Aggregate("n_events", lambda _e: _lit1(), "sum"),
        Aggregate("n_label_events", lambda _e: _label_event(), "sum"),
        Aggregate("first_ts", from_col("ts"), "min"),
        Aggregate("last_ts", from_col("ts"), "max"),
        Aggregate("last_activity_ts", lambda _e: _ts_unless_label(), "max"),
        Aggregate("registration", from_col("registration"), "max"),
        Aggregate("level", lambda _e: _code("level"), "last"),
        Aggregate("gender", lambda _e: _code("gender"), "last"),
        Aggregate("churn_ts", lambda _e: _ts_if_page(CANCEL_PAGE), "max"),
        Aggregate("n_paid_events", lambda _e: _level_is("paid"), "sum"),
        Aggregate("listen_s", lambda _e: _listen_seconds(), "sum"),
        # A session start is visible as itemInSession == 0 when the session begins logged in; sessions that
        # begin logged out start after a Logout, so features use session_starts + Logout as the estimate.
        Aggregate("session_starts", lambda _e: _first_item(), "sum"),
    ]
    aggs += [Aggregate(f"n_{_snake(p)}", (lambda page: (lambda _e: _is_page(page)))(p), "sum") for p in COUNTED_PAGES]
    aggs += [Aggregate(f"dk{tau}_{short}", _decayed(page, tau), "sum") for short, page in DECAYED for tau in TAUS_DAYS]
    assert {a.name for a in aggs} >= set(DECAYED_COLUMNS)
    return tuple(aggs)


#: Values of the "latest" aggregates, coded so that the aggregation buffer stays a long (see _latest).
LAST_CODES: dict[str, tuple[str, ...]] = {"level": ("free", "paid"), "gender": ("F", "M")}
_CODE_BITS = 3  # codes 1..7; 0 = no value


def _code(column: str):
    from pyspark.sql import functions as F

    expr = None
    for i, value in enumerate(LAST_CODES[column], 1):
        expr = (F.when(F.col(column) == value, F.lit(i)) if expr is None
                else expr.when(F.col(column) == value, F.lit(i)))
    return expr


def _lit1():
    from pyspark.sql import functions as F

    return F.lit(1)


def _ts_if_page(page: str):
    from pyspark.sql import functions as F

    return F.when(F.col("page") == page, F.col("ts"))


def _level_is(level: str):
    """1 for an event at ``level`` that is not a label page (the paid share is a feature)."""
    from pyspark.sql import functions as F

    return F.when((F.col("level") == level) & _not_label(), F.lit(1)).otherwise(F.lit(0))


def _label_event():
    from pyspark.sql import functions as F

    return F.when(_not_label(), F.lit(0)).otherwise(F.lit(1))


def _ts_unless_label():
    from pyspark.sql import functions as F

    return F.when(_not_label(), F.col("ts"))


def _listen_seconds():
    from pyspark.sql import functions as F

    return F.when((F.col("page") == "NextSong") & F.col("length").isNotNull(), F.col("length")).otherwise(F.lit(0.0))


def _first_item():
    from pyspark.sql import functions as F

    return F.when(F.col("itemInSession") == 0, F.lit(1)).otherwise(F.lit(0))


AGGREGATES: tuple[Aggregate, ...] = _build_aggregates()
#: Names of the raw aggregate outputs (the columns next to ``userId`` after ``groupBy("userId").agg(...)``).
RAW_COLUMNS: tuple[str, ...] = tuple(a.name for a in AGGREGATES)
#: Raw columns holding text (everything else is numeric).
TEXT_COLUMNS: tuple[str, ...] = ("level", "gender")


# ---------------------------------------------------------------------------------------------- Spark side

def _latest_coded(agg: Aggregate, epoch_ms: int):
    """max(ts * 8 + code) over events with a value: the latest value (ties broken by code), as one long.

    A string or struct in an aggregation buffer makes Spark fall back from hash to sort-based aggregation,
    several times slower on the same aggregates (docs/benchmarks.md); a long keeps it hashed.
    """
    from pyspark.sql import functions as F

    code = agg.expr(epoch_ms)
    return F.max(F.when(code.isNotNull(), F.col("ts") * F.lit(1 << _CODE_BITS) + code))


def _decode(coded, name: str):
    from pyspark.sql import functions as F

    code = F.pmod(coded, F.lit(1 << _CODE_BITS))
    expr = None
    for i, value in enumerate(LAST_CODES[name], 1):
        expr = F.when(code == i, F.lit(value)) if expr is None else expr.when(code == i, F.lit(value))
    return expr


def raw_aggregate_columns(epoch_ms: int) -> list:
    """Aliased aggregate Columns: ``events.groupBy("userId").agg(*raw_aggregate_columns(epoch_ms))``.

    Valid in a streaming aggregation (update mode): sums, mins and maxes only.
    """
    from pyspark.sql import functions as F

    cols = []
    for a in AGGREGATES:
        if a.merge == "last":
            cols.append(_decode(_latest_coded(a, epoch_ms), a.name).alias(a.name))
        else:
            cols.append(getattr(F, a.merge)(a.expr(epoch_ms)).alias(a.name))
    return cols


def partial_aggregate_columns(epoch_ms: int) -> list:
    """Like :func:`raw_aggregate_columns`, but "latest" values stay coded (``ts * 8 + code``) so partials merge."""
    from pyspark.sql import functions as F

    return [_latest_coded(a, epoch_ms).alias(a.name) if a.merge == "last"
            else getattr(F, a.merge)(a.expr(epoch_ms)).alias(a.name) for a in AGGREGATES]


def merge_aggregate_columns() -> list:
    """Aggregate Columns that combine partials (from :func:`partial_aggregate_columns`) into raw aggregates.

    ``partials.groupBy("userId").agg(*merge_aggregate_columns())`` equals aggregating the events directly.
    """
    from pyspark.sql import functions as F

    cols = []
    for a in AGGREGATES:
        if a.merge == "last":
            cols.append(_decode(F.max(F.col(a.name)), a.name).alias(a.name))
        else:
            cols.append(getattr(F, a.merge)(F.col(a.name)).alias(a.name))
    return cols


# ---------------------------------------------------------------------------------------------- model features

FEATURE_LABELS: dict[str, str] = {
    "tenure_days": "days since registration",
    "active_span_days": "days between first and last event",
    "days_since_last": "days since last activity",
    "events_per_day": "events per day",
    "songs_per_day": "songs per day",
    "sessions_per_day": "sessions per day",
    "songs_per_session": "songs per session",
    "listen_hours_per_day": "hours listened per day",
    "thumbs_down_per_song": "thumbs down per song",
    "thumbs_up_per_song": "thumbs up per song",
    "adverts_per_song": "adverts per song",
    "playlist_adds_per_song": "playlist adds per song",
    "friends_added_per_day": "friends added per day",
    "errors_per_session": "errors per session",
    "help_per_session": "help visits per session",
    "settings_per_session": "settings visits per session",
    "logouts_per_session": "logouts per session",
    "home_per_session": "home visits per session",
    "downgrade_visits_per_day": "downgrade page visits per day",
    "upgrade_visits_per_day": "upgrade page visits per day",
    "submitted_downgrades": "downgrades submitted",
    "submitted_upgrades": "upgrades submitted",
    "level_paid": "paid subscriber",
    "paid_fraction": "share of activity while paid",
    "gender_male": "gender (male)",
    "events_recent_per_day": "events per day, last week (decayed)",
    "songs_recent_per_day": "songs per day, last week (decayed)",
    "songs_trend": "songs: last week vs last month",
    "events_trend": "activity: last week vs last month",
    "thumbs_down_recent_per_song": "thumbs down per song, last week",
    "thumbs_down_trend": "thumbs down per song: last week vs last month",
    "adverts_recent_per_song": "adverts per song, last week",
    "adverts_trend": "adverts per song: last week vs last month",
    "thumbs_up_recent_per_song": "thumbs up per song, last week",
}
FEATURE_NAMES: tuple[str, ...] = tuple(FEATURE_LABELS)
#: The activity figures shown for a user on the dashboard.
KEY_FEATURES: tuple[str, ...] = (
    "songs_per_day", "days_since_last", "thumbs_down_per_song", "adverts_per_song", "sessions_per_day",
    "songs_trend",
)


def _num(raw: pd.DataFrame, name: str) -> np.ndarray:
    """A raw numeric column as float64 with missing values as 0 (sums over no matching event)."""
    if name not in raw.columns:
        return np.zeros(len(raw))
    return np.nan_to_num(pd.to_numeric(raw[name], errors="coerce").to_numpy(dtype="float64"), nan=0.0)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, with 0 / 0 = 0 and a denominator of at least 1 (counts below 1 are noise)."""
    return num / np.maximum(den, 1.0)


def _trend(short: np.ndarray, long: np.ndarray, prior: float) -> np.ndarray:
    """Ratio of a recent rate to a long-run rate, shrunk to 1 by ``prior`` so tiny counts give ~1."""
    return (short + prior) / (long + prior)


def decayed_as_of(sums: np.ndarray, as_of_ms: np.ndarray, epoch_ms: int, tau_days: float) -> np.ndarray:
    """Decayed counts as of ``as_of_ms`` from sums ``S = sum(exp((ts - epoch_ms)/tau))``."""
    return sums * np.exp(-(as_of_ms - float(epoch_ms)) / (tau_days * DAY_MS))


def model_features(raw: pd.DataFrame, as_of_ms: int | np.ndarray, epoch_ms: int) -> pd.DataFrame:
    """The model's features (float64, columns :data:`FEATURE_NAMES`, index of ``raw``), vectorised.

    ``as_of_ms`` is the time the features describe: a scalar or one value per row. Every division has a
    defined result for empty histories, so the output has no NaN or infinity.
    """
    n = len(raw)
    as_of = np.broadcast_to(np.asarray(as_of_ms, dtype="float64"), (n,)).copy()
    first = _num(raw, "first_ts")
    last_event = _num(raw, "last_ts")
    # the latest event that is not a label page (a user whose only events are label pages: the latest event)
    activity = _num(raw, "last_activity_ts")
    last = np.where(activity > 0, np.clip(activity, first, last_event), last_event)
    reg = pd.to_numeric(raw["registration"], errors="coerce").to_numpy(dtype="float64") if "registration" in raw \
        else np.full(n, np.nan)
    reg = np.where(np.isfinite(reg) & (reg > 0), np.minimum(reg, first), first)
    # a clock behind the user's last activity (late data in a stream) reads as "now = last activity", so that
    # recency and spans are never negative
    as_of = np.maximum(as_of, last)

    days_observed = np.maximum((as_of - first) / DAY_MS, 1.0)
    events = _num(raw, "n_events") - _num(raw, "n_label_events")
    songs = _num(raw, "n_nextsong")
    logouts = _num(raw, "n_logout")
    sessions = np.maximum(_num(raw, "session_starts") + logouts, np.where(events > 0, 1.0, 0.0))

    dk = {}
    for short, _page in DECAYED:
        for tau in TAUS_DAYS:
            dk[(short, tau)] = decayed_as_of(_num(raw, f"dk{tau}_{short}"), as_of, epoch_ms, tau)
    s7, s30 = dk[("songs", 7)], dk[("songs", 30)]

    out = {
        "tenure_days": (as_of - reg) / DAY_MS,
        "active_span_days": (last - first) / DAY_MS,
        "days_since_last": (as_of - last) / DAY_MS,
        "events_per_day": events / days_observed,
        "songs_per_day": songs / days_observed,
        "sessions_per_day": sessions / days_observed,
        "songs_per_session": _ratio(songs, sessions),
        "listen_hours_per_day": _num(raw, "listen_s") / 3600.0 / days_observed,
        "thumbs_down_per_song": _ratio(_num(raw, "n_thumbs_down"), songs),
        "thumbs_up_per_song": _ratio(_num(raw, "n_thumbs_up"), songs),
        "adverts_per_song": _ratio(_num(raw, "n_roll_advert"), songs),
        "playlist_adds_per_song": _ratio(_num(raw, "n_add_to_playlist"), songs),
        "friends_added_per_day": _num(raw, "n_add_friend") / days_observed,
        "errors_per_session": _ratio(_num(raw, "n_error"), sessions),
        "help_per_session": _ratio(_num(raw, "n_help"), sessions),
        "settings_per_session": _ratio(_num(raw, "n_settings"), sessions),
        "logouts_per_session": _ratio(logouts, sessions),
        "home_per_session": _ratio(_num(raw, "n_home"), sessions),
        "downgrade_visits_per_day": _num(raw, "n_downgrade") / days_observed,
        "upgrade_visits_per_day": _num(raw, "n_upgrade") / days_observed,
        "submitted_downgrades": _num(raw, "n_submit_downgrade"),
        "submitted_upgrades": _num(raw, "n_submit_upgrade"),
        "level_paid": _text(raw, "level", n) == "paid",
        "paid_fraction": _ratio(_num(raw, "n_paid_events"), events),
        "gender_male": np.select([_text(raw, "gender", n) == "M", _text(raw, "gender", n) == "F"], [1.0, 0.0], 0.5),
        "events_recent_per_day": dk[("events", 7)] / 7.0,
        "songs_recent_per_day": s7 / 7.0,
        "songs_trend": _trend(s7 / 7.0, s30 / 30.0, prior=1.0),
        "events_trend": _trend(dk[("events", 7)] / 7.0, dk[("events", 30)] / 30.0, prior=1.0),
        "thumbs_down_recent_per_song": dk[("thumbs_down", 7)] / np.maximum(s7, 1.0),
        "thumbs_down_trend": _trend(dk[("thumbs_down", 7)] / np.maximum(s7, 1.0),
                                    dk[("thumbs_down", 30)] / np.maximum(s30, 1.0), prior=0.01),
        "adverts_recent_per_song": dk[("adverts", 7)] / np.maximum(s7, 1.0),
        "adverts_trend": _trend(dk[("adverts", 7)] / np.maximum(s7, 1.0),
                                dk[("adverts", 30)] / np.maximum(s30, 1.0), prior=0.01),
        "thumbs_up_recent_per_song": dk[("thumbs_up", 7)] / np.maximum(s7, 1.0),
    }
    frame = pd.DataFrame({k: np.asarray(out[k], dtype="float64") for k in FEATURE_NAMES}, index=raw.index)
    return frame.fillna(0.0).replace([np.inf, -np.inf], 0.0)


def _text(raw: pd.DataFrame, name: str, n: int) -> np.ndarray:
    if name not in raw.columns:
        return np.full(n, "", dtype=object)
    return raw[name].fillna("").astype(str).to_numpy()


def feature_label(name: str) -> str:
    """Plain words for a feature (falls back to the name with spaces)."""
    return FEATURE_LABELS.get(name, name.replace("_", " "))
