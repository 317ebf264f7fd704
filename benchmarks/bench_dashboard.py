"""How long one dashboard refresh takes against 22,000 scored users in a real Redis.

Starts a throwaway Redis (devstack.services.RedisServer, free port, temp dir), writes 22,000 seeded users
in the streaming job's layout, then times the data layer's full refresh, i.e. everything one refresh of
the page reads: ``snapshot`` (headline counts, health, model, importance, alerts, histogram buckets, the
top-25 table) plus the drill-down ``user_detail`` of the top user. The same with a level filter (which has
to page through the ranking) is reported too. Goal: p95 <= 300 ms. Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contracts.redis_keys import RedisKeys  # noqa: E402
from dashboard import data  # noqa: E402
from dashboard.seed import seed  # noqa: E402
from devstack.services import RedisServer, free_port  # noqa: E402

GOAL_MS = 300.0


def refresh(client, keys: RedisKeys, filters: data.Filters) -> data.Snapshot:
    snap = data.snapshot(client, keys, filters)
    if snap.top:
        data.user_detail(client, keys, snap.top[0].user_id)
    return snap


def time_refreshes(client, keys: RedisKeys, filters: data.Filters, runs: int, warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        refresh(client, keys, filters)
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        refresh(client, keys, filters)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=22_000)
    ap.add_argument("--runs", type=int, default=300)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sparkify-bench-dashboard-") as tmp:
        server = RedisServer("redis", free_port(), Path(tmp)).start()
        try:
            client, keys = server.client(), RedisKeys("sparkify")
            t0 = time.perf_counter()
            seed(client, keys, args.users)
            seed_s = time.perf_counter() - t0
            plain = time_refreshes(client, keys, data.Filters(limit=25), args.runs)
            filtered_filters = data.Filters(limit=25, min_risk=0.2, levels=("paid",))
            filtered = time_refreshes(client, keys, filtered_filters, args.runs)
            scanned = data.snapshot(client, keys, filtered_filters).scanned
        finally:
            server.stop()
    result = {
        "users": args.users, "runs": args.runs, "seed_s": round(seed_s, 2),
        "refresh_ms_p50": round(statistics.median(plain), 2), "refresh_ms_p95": round(pct(plain, 95), 2),
        "refresh_ms_max": round(max(plain), 2),
        "filtered_refresh_ms_p50": round(statistics.median(filtered), 2),
        "filtered_refresh_ms_p95": round(pct(filtered, 95), 2), "filtered_scanned_users": scanned,
        "goal_ms": GOAL_MS, "meets_goal": pct(plain, 95) <= GOAL_MS and pct(filtered, 95) <= GOAL_MS,
    }
    print(f"seeded {args.users:,} users in {seed_s:.1f} s")
    print(f"full refresh (top 25 + drill-down):  p50 {result['refresh_ms_p50']} ms  p95 {result['refresh_ms_p95']} ms"
          f"  max {result['refresh_ms_max']} ms over {args.runs} runs")
    print(f"with level filter (read {scanned} ranked users): p50 {result['filtered_refresh_ms_p50']} ms"
          f"  p95 {result['filtered_refresh_ms_p95']} ms")
    print(f"goal p95 <= {GOAL_MS:.0f} ms: {'met' if result['meets_goal'] else 'NOT met'}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
