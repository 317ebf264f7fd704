"""How long one dashboard refresh takes against 22,000 scored users in a real Redis.

Starts a throwaway Redis (devstack.services.RedisServer, free port, temp dir), writes 22,000 seeded users
in the streaming job's layout, then times the data layer's full refresh, i.e. everything one refresh of
the page reads and computes: ``refresh.read_refresh`` (headline counts, health, model, importance, alerts,
histogram buckets, the filtered target list and its count, the catch rate, the population sample for the
dependence view and the usage means) plus the drill-down ``user_detail`` of the first user, its usage tiles
and the dependence frame. Three filters: none (active users), a level, band and risk range (the count
walks the range on the server), and cancelled users of one level. Goal: p95 <= 300 ms for each.
Usage: ``python benchmarks/bench_dashboard.py [--users 22000] [--runs 300]``. Last line: one JSON object.
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
from dashboard.population import dependence_frame  # noqa: E402
from dashboard.refresh import Refresh, read_refresh  # noqa: E402
from dashboard.seed import seed  # noqa: E402
from dashboard.targets import TargetFilter  # noqa: E402
from dashboard.usage import usage_tiles  # noqa: E402
from devstack.services import RedisServer, free_port  # noqa: E402

GOAL_MS = 300.0


FILTERS = {"": TargetFilter(),
           "filtered_": TargetFilter(0.2, 0.9, bands=("medium", "high"), levels=("paid",)),
           "cancelled_": TargetFilter(levels=("free",), status="cancelled")}


def refresh(client, keys: RedisKeys, filters: TargetFilter) -> Refresh:
    page = read_refresh(client, keys, filters, limit=25)
    if page.targets.rows:
        detail = data.user_detail(client, keys, page.targets.rows[0].user_id)
        if detail is not None:
            usage_tiles(detail, page.sample)
    features = page.sample.features()
    if features:
        dependence_frame(page.sample, features[0], features[-1])
    return page


def time_refreshes(client, keys: RedisKeys, filters: TargetFilter, runs: int, warmup: int = 5) -> list[float]:
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
            result: dict[str, object] = {"users": args.users, "runs": args.runs, "seed_s": round(seed_s, 2)}
            p95s = []
            for name, filters in FILTERS.items():
                times = time_refreshes(client, keys, filters, args.runs)
                page = refresh(client, keys, filters)
                p95s.append(pct(times, 95))
                result.update({f"{name}refresh_ms_p50": round(statistics.median(times), 2),
                               f"{name}refresh_ms_p95": round(pct(times, 95), 2),
                               f"{name}refresh_ms_max": round(max(times), 2),
                               f"{name}matching_users": page.targets.count})
                print(f"{name.rstrip('_') or 'active, no filter'}: {page.targets.count:,} matching users, "
                      f"sample {page.sample.size:,}; p50 {statistics.median(times):.1f} ms  p95 {pct(times, 95):.1f} ms"
                      f"  max {max(times):.1f} ms over {args.runs} runs")
        finally:
            server.stop()
    result.update({"goal_ms": GOAL_MS, "meets_goal": max(p95s) <= GOAL_MS})
    print(f"seeded {args.users:,} users in {seed_s:.1f} s; goal p95 <= {GOAL_MS:.0f} ms: "
          f"{'met' if result['meets_goal'] else 'NOT met'}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
