"""Do the live scores come true at scale? (`benchmarks/bench_realized.py [--users 5000 --seed 2]`)

A log of another seed than the model's training log (same generator settings) is replayed into a local Kafka topic
and streamed to its end with `python -m streaming --available-now`, in batches shorter than an event-time day, with
the refresh and monitoring on. Then the monitoring state in Redis (the realized metrics pooled over the resolved
cohorts) is set beside the model card's test figures: AUROC against the card's 95% interval, and each of the 10
calibration bins against the card's reliability plot.

A bin agrees when its observed rate is inside the 95% Wilson interval around its mean predicted risk. The pooled
cohorts hold each active user once per daily cohort, so their counts overstate the independent evidence: the
interval uses each bin's count divided by the mean number of cohorts a user is in (the design effect of that
repetition, an upper bound for it), and the naive count is reported too.

Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, count_lines, emit, local_services, simulated_log

import redis


def wilson(p: float, n: float, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion ``p`` observed on ``n`` trials."""
    if n <= 0:
        return 0.0, 1.0
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def main() -> None:
    from contracts.artifact import load_artifact
    from contracts.redis_keys import Cohort, RealizedMetrics, RedisKeys

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", type=int, default=5000)
    p.add_argument("--days", type=int, default=60)
    p.add_argument("--seed", type=int, default=2, help="the streamed log's seed (the full-scale log's is 0)")
    p.add_argument("--model-dir", type=Path, default=ROOT / "models")
    p.add_argument("--max-offsets", type=int, default=40_000, help="events per micro-batch (< one event-time day)")
    args = p.parse_args()
    artifact = load_artifact(args.model_dir)
    log = simulated_log(args.users, args.days, args.seed).resolve()
    keys = RedisKeys()
    with local_services() as (broker, server), tempfile.TemporaryDirectory(prefix="bench-realized-") as tmp:
        topic = "bench-realized"
        subprocess.run([sys.executable, "-m", "producer", "replay", str(log), "--max", "--topic", topic,
                        "--partitions", "2", "--bootstrap", broker.bootstrap], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
        subprocess.run([sys.executable, "-m", "streaming", "--bootstrap", broker.bootstrap, "--topic", topic,
                        "--redis-url", server.url, "--model-dir", str(args.model_dir), "--checkpoint-dir",
                        str(Path(tmp) / "ckpt"), "--master", "local[2]", "--shuffle-partitions", "2",
                        "--max-offsets-per-trigger", str(args.max_offsets), "--available-now", "--log-level",
                        "WARNING"], check=True, cwd=ROOT)
        client = redis.Redis.from_url(server.url, decode_responses=True)
        realized = RealizedMetrics.from_hash(client.hgetall(keys.realized))
        resolved = [m for m in client.zrange(keys.cohorts, 0, -1)
                    if Cohort.from_hash(client.hgetall(keys.cohort(m))).resolved]
        distinct = len({u for m in resolved for u in client.zrange(keys.cohort_scores(m), 0, -1)})
    if not realized.users:
        raise SystemExit("error: no cohort resolved: is the log longer than the model's horizon?")
    metrics = artifact.metrics
    card = metrics["calibration"]["reliability_after"]
    repeat = realized.users / max(distinct, 1)
    bins = []
    for (predicted, observed, count), card_pred, card_obs in zip(realized.calibration, card["mean_predicted"],
                                                                 card["observed_rate"]):
        low, high = wilson(predicted, count / repeat)
        naive_low, naive_high = wilson(predicted, count)
        bins.append({"mean_predicted": round(predicted, 4), "observed_rate": round(observed, 4), "count": int(count),
                     "interval": [round(low, 4), round(high, 4)], "within": low <= observed <= high,
                     "within_naive": naive_low <= observed <= naive_high,
                     "card_mean_predicted": round(card_pred, 4), "card_observed_rate": round(card_obs, 4)})
    for b in bins:
        print(f"[realized] predicted {b['mean_predicted']:.4f} observed {b['observed_rate']:.4f} "
              f"(n {b['count']:,}, 95% {b['interval']}) | card: predicted {b['card_mean_predicted']:.4f} "
              f"observed {b['card_observed_rate']:.4f}", flush=True)
    low, high = metrics["auroc_ci"]
    emit({"log": str(log), "events": count_lines(log), "model": artifact.version, "cohorts": realized.cohorts,
          "scores": realized.users, "distinct_users": distinct, "positives": realized.positives,
          "realized_auroc": realized.auroc, "offline_auroc": metrics["auroc"], "offline_auroc_ci": [low, high],
          "auroc_within_offline_ci": bool(realized.auroc is not None and low <= realized.auroc <= high),
          "realized_ece": realized.expected_calibration_error, "offline_ece": metrics["ece"],
          "realized_brier": realized.brier, "offline_brier": metrics["brier"],
          "bins_within": sum(b["within"] for b in bins), "bins_within_naive": sum(b["within_naive"] for b in bins),
          "bins": bins})


if __name__ == "__main__":
    main()
