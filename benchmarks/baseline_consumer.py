"""The baseline a user would otherwise write: one Python process, kafka-python, dict state.

It does the streaming job's work without Spark: validate each record (``contracts.validation``), update the
same raw per-user aggregates in plain dicts (a per-event Python re-statement of ``contracts.features``
AGGREGATES), and every ``batch_events`` records score the updated users with the same feature function,
model, SHAP and Redis writer as the streaming job (``streaming.scoring.score_frame``). Used only by
``bench_streaming.py`` to show what Spark has to beat.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass

import pandas as pd

from contracts.artifact import load_artifact
from contracts.features import COUNTED_PAGES, DAY_MS, DECAYED, TAUS_DAYS, _snake
from contracts.redis_client import connect
from contracts.redis_keys import RedisKeys
from contracts.schema import CANCEL_PAGE, LABEL_PAGES, display_name
from contracts.validation import check_event
from contracts.user_writer import UserWriter
from streaming.scoring import ScoreContext, score_frame

_COUNTED = {p: f"n_{_snake(p)}" for p in COUNTED_PAGES}
_DECAYED = [(f"dk{tau}_{short}", page, float(tau * DAY_MS)) for short, page in DECAYED for tau in TAUS_DAYS]
_LATEST = ("level", "gender", "name", "location")


def _new_state() -> dict:
    s = {"n_events": 0, "n_label_events": 0, "first_ts": None, "last_ts": None, "last_activity_ts": None,
         "registration": None, "churn_ts": None,
         "n_paid_events": 0, "listen_s": 0.0, "session_starts": 0}
    s.update({col: 0 for col in _COUNTED.values()})
    s.update({name: 0.0 for name, _, _ in _DECAYED})
    s.update({k: None for k in _LATEST})
    s.update({f"_ts_{k}": -1 for k in _LATEST})
    return s


def update(s: dict, ev: dict, epoch_ms: int) -> None:
    """Fold one valid event into a user's state, as the Spark aggregates do."""
    ts, page = ev["ts"], ev["page"]
    s["n_events"] += 1
    s["first_ts"] = ts if s["first_ts"] is None else min(s["first_ts"], ts)
    s["last_ts"] = ts if s["last_ts"] is None else max(s["last_ts"], ts)
    label = page in LABEL_PAGES
    s["n_label_events"] += label
    if not label:
        s["last_activity_ts"] = ts if s["last_activity_ts"] is None else max(s["last_activity_ts"], ts)
    reg = ev.get("registration")
    if reg is not None:
        s["registration"] = int(reg) if s["registration"] is None else max(s["registration"], int(reg))
    if page == CANCEL_PAGE:
        s["churn_ts"] = ts if s["churn_ts"] is None else max(s["churn_ts"], ts)
    level = ev.get("level")
    s["n_paid_events"] += level == "paid" and not label
    if page == "NextSong" and ev.get("length") is not None:
        s["listen_s"] += ev["length"]
    s["session_starts"] += ev.get("itemInSession") == 0
    col = _COUNTED.get(page)
    if col:
        s[col] += 1
    for name, dk_page, tau_ms in _DECAYED:
        if (dk_page is None and not label) or dk_page == page:
            s[name] += math.exp((ts - epoch_ms) / tau_ms)
    name = display_name(ev) or None
    for key, value in (("level", level), ("gender", ev.get("gender")), ("name", name),
                       ("location", ev.get("location"))):
        if value is not None and (ts, value) > (s[f"_ts_{key}"], s[key] or ""):
            s[key], s[f"_ts_{key}"] = value, ts


@dataclass
class BaselineResult:
    events: int
    seconds: float
    users_scored: int

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def run(bootstrap: str, topic: str, redis_url: str, model_dir: str, expected_events: int,
        prefix: str = "baseline", batch_events: int = 100_000, epoch_ms: int | None = None,
        isolation_level: str = "read_committed") -> BaselineResult:
    """Consume ``expected_events`` records from the start of ``topic`` and keep Redis up to date.

    ``isolation_level`` is read_committed as the replay writes in transactions; the A/B of
    ``bench_kafka_input.py`` reads a plain topic with read_uncommitted."""
    from kafka import KafkaConsumer

    artifact = load_artifact(model_dir)
    epoch = artifact.epoch_ms if epoch_ms is None else epoch_ms
    writer = UserWriter(connect(redis_url, decode_responses=True), RedisKeys(prefix), artifact.threshold, 0.05, 10_000)
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, max_poll_records=10_000, fetch_max_bytes=64 << 20,
                             max_partition_fetch_bytes=16 << 20,
                             isolation_level=isolation_level)
    state: dict[str, dict] = {}
    dirty: set[str] = set()
    clock = 0
    seen = scored = 0
    started = time.perf_counter()

    def flush() -> int:
        if not dirty:
            return 0
        raw = pd.DataFrame([{"userId": u, **{k: v for k, v in state[u].items() if not k.startswith("_")}}
                            for u in dirty])
        ctx = ScoreContext(model_dir, artifact.version, clock, epoch, redis_url, (), prefix, 0.05, 10_000, 3)
        writes = score_frame(raw, ctx, artifact)
        writer.write(writes)
        n = len(dirty)
        dirty.clear()
        return n

    while seen < expected_events:
        for records in consumer.poll(timeout_ms=1000).values():
            for rec in records:
                seen += 1
                try:
                    ev = json.loads(rec.value)
                except ValueError:
                    continue
                if check_event(ev).status != "valid":
                    continue
                uid = ev["userId"]
                update(state.setdefault(uid, _new_state()), ev, epoch)
                dirty.add(uid)
                clock = max(clock, ev["ts"])
                if seen % batch_events == 0:
                    scored += flush()
    scored += flush()
    consumer.close()
    return BaselineResult(seen, time.perf_counter() - started, scored)
