"""The cost of one refresh (`benchmarks/bench_refresh.py [--users 22000]`): every active user rescored as of a clock.

Raw aggregates of a simulated log at one cutoff, copied under new ids up to ``--users`` users, are written to a
local Redis with the user write (as the stream leaves them); then the streaming job's :class:`Refresher` rescores
them all as of an hour later (few risks move: SHAP for few) and as of a day later (more move), with a tree model
(HistGradientBoosting, exact tree SHAP, as the full-scale model). Each refresh is timed ``--repeats`` times on a
fresh copy of the state; the median is reported. Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, active_users_raw, emit, local_services, simulated_log



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--users", type=int, default=22_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from contracts.features import DAY_MS, model_features
    from contracts.raw_codec import pack
    from contracts.redis_keys import RedisKeys, UserScore
    from contracts.spark_session import build_session
    from contracts.user_writer import UserWriter
    from streaming.refresh import HOUR_MS, Refresher
    from tests.support.artifacts import quick_artifact

    spark = build_session("bench-refresh", master="local[2]")
    raw, epoch, cutoff = active_users_raw(spark, simulated_log(500, 45, seed=31), args.users)
    features = model_features(raw, cutoff, epoch)
    labels = (features["days_since_last"] > 7).to_numpy() | (features["thumbs_down_per_song"] > 0.03).to_numpy()
    keys = RedisKeys("bench")
    results: dict[str, list[float]] = {"hour": [], "day": []}
    shap_users: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp, local_services(kafka=False) as (_, redis_server):
        artifact = quick_artifact(Path(tmp), features, labels, epoch_ms=epoch)
        client = redis_server.client()
        writer = UserWriter(client, keys, artifact.threshold, 0.05, 10_000)
        risk, _ = artifact.predict_and_explain(features[list(artifact.feature_names)])
        seed_records = [UserScore(user_id=u, risk=float(r), band="low", level=str(lv or ""), n_events=int(n),
                                  last_ts=int(t), as_of=cutoff, shap={"tenure_days": 0.1})
                        for u, r, lv, n, t in zip(raw["userId"], risk, raw["level"], raw["n_events"], raw["last_ts"])]
        packed = pack(raw)
        for label, later in (("hour", HOUR_MS), ("day", DAY_MS)):
            for _ in range(args.repeats):
                client.flushdb()
                writer.write(seed_records, raw=packed)
                refresher = Refresher(client, keys, writer, min_move=0.01, top_n=3)
                t0 = time.perf_counter()
                done = refresher.refresh(cutoff + later, epoch, artifact)
                results[label].append(time.perf_counter() - t0)
                shap_users[label] = done.shap_users
            print(f"[bench] refresh as of +1 {label}: {[round(x, 2) for x in results[label]]} s, "
                  f"{shap_users[label]:,} of {len(raw):,} users with new SHAP", flush=True)
    spark.stop()
    emit({"users": int(len(raw)), "refresh_hour_s": round(statistics.median(results["hour"]), 3),
          "refresh_day_s": round(statistics.median(results["day"]), 3),
          "shap_users_hour": shap_users["hour"], "shap_users_day": shap_users["day"], "repeats": args.repeats})


if __name__ == "__main__":
    main()
