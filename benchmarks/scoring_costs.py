"""Where the scoring tasks' time goes: each step of ``streaming.scoring`` timed alone on a batch of real users.

The job's per-batch Python work (``score_partitions``) runs, for each updated user: the features
(``model_features``), the risk and its SHAP values (the artifact's scorer), the top drivers, the records for the
user write (``UserScore``), the script's arguments, and the Lua write to Redis. This script takes the raw
aggregates of a simulated log's users at one cutoff (as the stream holds them), scores them with a trained model
(default: ``models/latest``, the full-scale one after ``make bench-training``/``bench-streaming``), and times
each step in one process, medians of ``--repeats``, in microseconds per user.

    .venv/bin/python benchmarks/scoring_costs.py [--model-dir models] [--users 15000] [--repeats 3]

Last line: one JSON object, step -> us_per_user, and their total.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from common import ROOT, active_users_raw, emit, local_services, simulated_log



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", type=Path, default=ROOT / "models")
    ap.add_argument("--users", type=int, default=15_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from contracts.artifact import load_artifact
    from contracts.drivers import top_drivers
    from contracts.features import model_features
    from contracts.raw_codec import pack
    from contracts.redis_keys import RedisKeys
    from contracts.user_writer import UserWriter
    from streaming.scoring import ScoreContext, score_frame

    artifact = load_artifact(args.model_dir)
    from contracts.spark_session import build_session

    spark = build_session("scoring-costs", master="local[2]")
    raw, epoch, cutoff = active_users_raw(spark, simulated_log(1500, 45, seed=7), args.users)
    spark.stop()
    names = list(artifact.feature_names)
    n = len(raw)
    times: dict[str, list[float]] = {}

    def timed(step: str, fn):
        t0 = time.perf_counter()
        out = fn()
        times.setdefault(step, []).append(time.perf_counter() - t0)
        return out

    with local_services(kafka=False) as (_, server):
        client = server.client()
        writer = UserWriter(client, RedisKeys("costs"), artifact.threshold, 0.05, 10_000)
        ctx = ScoreContext(str(args.model_dir), artifact.version, cutoff, epoch, server.url, (), "costs", 0.05,
                           10_000, 3)
        artifact.predict_and_explain(model_features(raw.head(100), cutoff, epoch)[names])  # explainer built once
        for rep in range(args.repeats):
            client.flushdb()
            features = timed("features", lambda: model_features(raw, cutoff, epoch))
            X = features[names]
            timed("predict", lambda: artifact.predict(X))
            risk, shap = timed("predict_and_shap", lambda: artifact.predict_and_explain(X))
            timed("drivers", lambda: top_drivers(shap, X.to_numpy(dtype=float), names, 3))
            writes = timed("score_frame_all", lambda: score_frame(raw, ctx, artifact))
            packed = timed("pack_raw", lambda: pack(raw))
            timed("script_args", lambda: [writer._args(u, r) for u, r in zip(writes, packed)])
            client.flushdb()
            timed("write_redis_all", lambda: writer.write(writes, raw=packed))
            print(f"[costs] run {rep + 1}: " + ", ".join(f"{k} {v[-1] * 1e6 / n:.0f}" for k, v in times.items())
                  + " us/user", flush=True)
    result = {step: round(statistics.median(v) * 1e6 / n, 1) for step, v in times.items()}
    result.update(users=n, model=artifact.version, scorer=type(artifact.scorer).__name__)
    emit(result)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
