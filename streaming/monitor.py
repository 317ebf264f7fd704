"""``python -m streaming monitor [--json]``: do the live scores come true, and does the population still look
like the training one? Prints the monitoring state the streaming job's refresh keeps in Redis.

It reads only Redis (never Spark, never the artifact): the health hash (clock, score age, active users), the model
hash (the artifact's offline test figures), the resolved cohorts (oldest first), the metrics pooled over them and
the latest drift, each through its record in :mod:`contracts.redis_keys`. Readable text by default; ``--json``
prints one object with the issue's keys, unknown figures as ``null`` (never NaN, which is not JSON). Redis out of
reach: one line on stderr, exit 2.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import datetime, timezone
from typing import Any

from contracts.redis_keys import (Cohort, Drift, ModelInfo, RealizedMetrics, RedisKeys, StreamHealth, parse_float)
from contracts.settings import Settings, settings_or_report

#: The artifact's test figures shown as the offline reference (top-level keys of its metrics.json).
OFFLINE_KEYS: tuple[str, ...] = ("auroc", "average_precision", "brier", "top_decile_lift")
COHORT_KEYS: tuple[str, ...] = ("auroc", "average_precision", "brier", "top_decile_lift", "precision", "recall")
REALIZED_KEYS: tuple[str, ...] = ("auroc", "average_precision", "brier", "top_decile_lift",
                                  "expected_calibration_error")
HOUR_MS = 3_600_000


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line (no usage block), exit 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"error: {self.prog}: {message}\n")


def build_parser(defaults: Settings) -> argparse.ArgumentParser:
    p = _Parser(prog="python -m streaming monitor", description=__doc__.split("\n\n")[0],
                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--redis-url", default=defaults.redis_url, help="Redis URL (rediss:// for TLS)")
    return p


def _finite(value: Any) -> Any:
    """The value with every non-finite float (NaN, inf) replaced by None, through lists and dicts."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def utc_day(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")


def read_cohorts(client, keys: RedisKeys) -> list[Cohort]:
    """Every kept cohort, oldest first (the cohorts zset is scored by ``as_of_ms``), in two round trips."""
    members = client.zrange(keys.cohorts, 0, -1)
    pipe = client.pipeline(transaction=False)
    for as_of in members:
        pipe.hgetall(keys.cohort(as_of))
    cohorts = [Cohort.from_hash(raw) for raw in pipe.execute()] if members else []
    return [c for c in cohorts if c.as_of_ms is not None]


def _cohort_json(c: Cohort) -> dict[str, Any]:
    return {"as_of_ms": c.as_of_ms, "day": utc_day(c.as_of_ms), "users": c.users, "positives": c.positives,
            **{k: getattr(c, k) for k in COHORT_KEYS},
            "calibration": [[parse_float(v) for v in b] for b in c.calibration]}


def read_state(client, keys: RedisKeys) -> dict[str, Any]:
    """The monitoring state as the ``--json`` object: resolved cohorts only, nulls for what is not known yet."""
    return read(client, keys)[0]


def read(client, keys: RedisKeys) -> tuple[dict[str, Any], str]:
    """The ``--json`` object and the model's label horizon in days (empty when no model is published)."""
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(keys.health)
    pipe.hgetall(keys.model)
    pipe.hgetall(keys.realized)
    pipe.hgetall(keys.drift)
    health_raw, model_raw, realized_raw, drift_raw = pipe.execute()
    health = StreamHealth.from_hash(health_raw)
    model = ModelInfo.from_hash(model_raw) if model_raw else None
    realized = RealizedMetrics.from_hash(realized_raw)
    drift = Drift.from_hash(drift_raw)
    metrics = model.metrics if model else {}
    age = health.max_score_age_ms
    state = {
        "clock_ms": health.clock_ms,
        "max_score_age_hours": None if age is None else age / HOUR_MS,
        "active_users": health.active_users,
        "model_version": model.version if model else None,
        "offline": {k: parse_float(metrics.get(k)) for k in OFFLINE_KEYS},
        "cohorts": [_cohort_json(c) for c in read_cohorts(client, keys) if c.resolved],
        "realized": {"users": realized.users, "positives": realized.positives,
                     **{k: getattr(realized, k) for k in REALIZED_KEYS}},
        "drift": {"prediction_psi": drift.prediction_psi, "feature_psi": dict(drift.feature_psi),
                  "alerts": list(drift.alerts)},
    }
    return _finite(state), model.horizon_days if model else ""


# ---------------------------------------------------------------- text

def _num(value: float | int | None, fmt: str = ".3f") -> str:
    if value is None:
        return "—"
    return f"{value:,}" if isinstance(value, int) else format(value, fmt)


def render_text(state: dict[str, Any], horizon_days: str = "") -> str:
    """The state for a person: one block per question, the offline figure beside each realized one."""
    off, real, drift = state["offline"], state["realized"], state["drift"]
    clock = state["clock_ms"]
    clock_text = "—" if clock is None else datetime.fromtimestamp(clock / 1000, tz=timezone.utc).strftime(
        "%Y-%m-%d %H:%M UTC")
    lines = [f"model {state['model_version'] or '—'} · event-time clock {clock_text} · "
             f"{_num(state['active_users'])} active users · "
             f"oldest score {_num(state['max_score_age_hours'], '.1f')} h",
             "", "Did the predictions come true? (realized, pooled over resolved cohorts, vs offline test)"]
    if not state["cohorts"]:
        lines.append(f"  no resolved cohorts yet (labels arrive {horizon_days or 'H'} days after a refresh)")
    else:
        lines.append(f"  {len(state['cohorts'])} resolved cohorts, {_num(real['users'])} user-scores, "
                     f"{_num(real['positives'])} cancelled")
        for key, label in (("auroc", "AUROC"), ("average_precision", "average precision"), ("brier", "Brier"),
                           ("top_decile_lift", "top-decile lift")):
            lines.append(f"  {label:<18} {_num(real[key]):>7}   offline {_num(off[key])}")
        lines.append(f"  {'calibration error':<18} {_num(real['expected_calibration_error']):>7}")
        lines.append("")
        lines.append(f"  {'cohort':<10} {'users':>6} {'cancel':>6} {'AUROC':>6} {'AP':>6} {'lift':>5} "
                     f"{'prec':>5} {'recall':>6}")
        for c in state["cohorts"]:
            lines.append(f"  {c['day']:<10} {_num(c['users']):>6} {_num(c['positives']):>6} {_num(c['auroc']):>6} "
                         f"{_num(c['average_precision']):>6} {_num(c['top_decile_lift'], '.2f'):>5} "
                         f"{_num(c['precision'], '.2f'):>5} {_num(c['recall'], '.2f'):>6}")
    lines += ["", "Drift (population stability index against the training reference)"]
    if drift["prediction_psi"] is None and not drift["feature_psi"]:
        lines.append("  no drift computed yet")
    else:
        lines.append(f"  prediction PSI {_num(drift['prediction_psi'])}")
        for name, psi in sorted(drift["feature_psi"].items(), key=lambda kv: -kv[1]):
            flag = "  ALERT" if name in drift["alerts"] else ""
            lines.append(f"  {name:<28} {psi:.3f}{flag}")
        lines.append(f"  alerts: {', '.join(drift['alerts']) if drift['alerts'] else 'none'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    defaults = settings_or_report()
    if defaults is None:
        return 2
    args = build_parser(defaults).parse_args(argv)
    import redis

    from contracts.redaction import redact_url

    settings = defaults.replace(redis_url=args.redis_url)
    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=10,
                                  **settings.redis_kwargs())
    try:
        state, horizon = read(client, RedisKeys(settings.redis_prefix))
    except redis.RedisError as exc:
        print(f"error: cannot read Redis at {redact_url(settings.redis_url)}: {str(exc).splitlines()[0]}",
              file=sys.stderr)
        return 2
    finally:
        client.close()
    print(json.dumps(state, allow_nan=False) if args.json else render_text(state, horizon))
    return 0
