"""Streaming benchmark (`make bench-streaming`): throughput, latency, and the plain-Python baseline.

1. Throughput: a simulated log is replayed into a local Kafka topic, then `python -m streaming --available-now`
   reads it all: events/s from Kafka to Redis, including parse, state, features, scoring and SHAP for every
   updated user (the clock starts when the queries start, so Spark's start-up is excluded; reported too).
2. Latency at a paced input (default 1,000 events/s): from the moment the benchmark produces an event to the
   moment its user's score in Redis includes it (the user hash's `scored_at` once `n_events` reaches it). The
   input starts far enough before the log's first event-time midnight that the refresh there falls in the middle
   of the measured window.
3. Baseline: `baseline_consumer.py` (kafka-python, dict state, the same features, model, SHAP and Redis writer)
   on the same topic, single process.
4. The limit: `limit_job.py`, the job's own query (read, parse, validate, per-user aggregates in state) with
   nothing after the aggregation, on the same topic, cores and batch size: what the job could reach at most.

Throughput and latency run with the refresh and monitoring on (the default) and, with `--refresh both` (the
default), also off (`SPARKIFY_REFRESH_HOURS=0`) on the same topic and log, off first: what they cost is a ratio
from one run, not a comparison of figures from different days.

Last line: one JSON object with events_per_s, p50_s, p95_s, p99_s (refresh on), baseline_events_per_s, ratio,
limit_events_per_s and fraction_of_limit (events_per_s / limit_events_per_s);
with `--refresh both` also refresh_off_events_per_s, refresh_off_p95_s, refresh_throughput_ratio (on / off),
refresh_p95_added_s (on - off); and refresh_ms / refresh_users (the run's last refresh), refreshes (cohorts kept).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import ROOT, count_lines, emit, local_services, percentile, poll_latency, simulated_log
from limit_job import run_in_own_jvm

import redis

from contracts.redis_keys import HealthField, RedisKeys

KEYS = RedisKeys()


def ensure_model(model_dir: Path, log: Path) -> Path:
    if (model_dir / "latest").exists():
        return model_dir
    print(f"[bench] no model in {model_dir}: training one on {log}", flush=True)
    subprocess.run([sys.executable, "-m", "training", "--data", str(log), "--out", str(model_dir)], check=True, cwd=ROOT)
    return model_dir


def replay(log: Path, bootstrap: str, topic: str, partitions: int, extra: list[str] | None = None) -> None:
    subprocess.run([sys.executable, "-m", "producer", "replay", str(log), "--max", "--topic", topic, "--partitions",
                    str(partitions), "--bootstrap", bootstrap, *(extra or [])], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)


def job_env(refresh: bool) -> dict[str, str]:
    """The job's environment: refresh and monitoring at their default interval, or off."""
    env = dict(os.environ)
    env.pop("SPARKIFY_REFRESH_HOURS", None)
    if not refresh:
        env["SPARKIFY_REFRESH_HOURS"] = "0"
    return env


def load_topic(args, bootstrap: str, log: Path, events: int) -> str:
    topic = f"bench-{int(time.time())}"
    t0 = time.perf_counter()
    replay(log, bootstrap, topic, args.partitions)
    print(f"[bench] {events:,} events in topic {topic} ({time.perf_counter() - t0:.0f} s to load)", flush=True)
    return topic


def latency_start(log: Path, rate: float, warmup_s: float, measured_s: float) -> int:
    """The first line the paced input sends: early enough that the log's first event-time day boundary (where the
    refresh runs) falls in the middle of the measured window, so the latency with the refresh on includes one."""
    from contracts.features import DAY_MS

    first_day = None
    with open(log, "rb") as fh:
        for i, line in enumerate(fh):
            day = json.loads(line)["ts"] // DAY_MS
            if first_day is None:
                first_day = day
            elif day > first_day:
                return max(0, i - int(rate * (warmup_s + measured_s / 2)))
    return 0


def streaming_cmd(bootstrap: str, topic: str, redis_url: str, model_dir: Path, ckpt: Path, cores: int,
                  max_offsets: int, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "streaming", "--bootstrap", bootstrap, "--topic", topic, "--redis-url", redis_url,
            "--model-dir", str(model_dir), "--checkpoint-dir", str(ckpt), "--master", f"local[{cores}]",
            "--shuffle-partitions", str(max(2, cores)), "--max-offsets-per-trigger", str(max_offsets),
            "--log-level", "WARNING", *extra]


def throughput(args, bootstrap: str, redis_url: str, model_dir: Path, topic: str, events: int, tmp: Path,
               refresh: bool) -> dict:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    started = time.time()
    cmd = streaming_cmd(bootstrap, topic, redis_url, model_dir, tmp / f"ckpt-{topic}-{refresh}", args.cores,
                        args.max_offsets, ["--available-now"])
    subprocess.run(cmd, check=True, cwd=ROOT, env=job_env(refresh))
    ended = time.time()
    health = client.hgetall(KEYS.health)
    query_started = int(health.get("query_started_ms", started * 1000)) / 1000
    last_batch = int(health.get("last_batch_wall_ms", ended * 1000)) / 1000
    steady = max(last_batch, query_started) - query_started
    users = client.zcard(KEYS.ranking) + client.zcard(KEYS.churned)
    result = {"events": events, "events_in": int(health.get("events_in", 0)), "users_in_redis": users,
              "streaming_s": round(steady, 1), "wall_incl_startup_s": round(ended - started, 1),
              "events_per_s": round(events / steady, 1) if steady else 0.0,
              "events_per_s_incl_startup": round(events / (ended - started), 1), "topic": topic}
    if refresh:
        result.update(refresh_ms=int(health.get(HealthField.REFRESH_MS, 0)),
                      refresh_users=int(health.get(HealthField.REFRESH_USERS, 0)),
                      refresh_shap_users=int(health.get(HealthField.REFRESH_SHAP_USERS, 0)),
                      refreshes=client.zcard(KEYS.cohorts))
    print(f"[bench] throughput, refresh {'on' if refresh else 'off'}: {result}", flush=True)
    return result


def latency(args, bootstrap: str, redis_url: str, model_dir: Path, log: Path, tmp: Path, refresh: bool) -> dict:
    from confluent_kafka import Producer

    topic = f"bench-lat-{int(time.time())}-{'on' if refresh else 'off'}"
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    # create the topic with the wanted partitions by replaying nothing, then start the job on it
    replay(log, bootstrap, topic, args.partitions, ["--limit", "1"])
    cmd = streaming_cmd(bootstrap, topic, redis_url, model_dir, tmp / f"ckpt-{topic}", args.cores, 100_000,
                        ["--trigger-seconds", str(args.trigger_seconds)])
    job = subprocess.Popen(cmd, cwd=ROOT, env=job_env(refresh))
    try:
        deadline = time.time() + 180
        while not client.hget(KEYS.health, "last_batch_wall_ms"):
            if time.time() > deadline or job.poll() is not None:
                raise SystemExit("streaming job did not start")
            time.sleep(0.5)
        producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True, "acks": "all"})
        sent: dict[str, list[tuple[int, float]]] = {}  # user -> [(cumulative count, send time)]
        counts: dict[str, int] = {"": 0}
        lock = threading.Lock()
        stop = threading.Event()
        latencies: list[tuple[float, float]] = []  # (send time, latency)

        # latency is scored_at minus send time, so the poll interval only has to stay below the time between two
        # batches (>= the trigger); polling every user every 50 ms cost the 2 cores ~20k Redis reads a second
        poller = threading.Thread(target=poll_latency, args=(client, "sparkify", sent, lock, latencies, stop,
                                                             min(0.2, args.trigger_seconds / 2)),
                                  daemon=True)
        poller.start()
        start = time.time()
        n = 0
        skip = latency_start(log, args.rate, args.warmup_seconds, args.latency_seconds)
        with open(log, "rb") as fh:
            for i, line in enumerate(fh):
                if i < skip:
                    continue
                if time.time() - start > args.latency_seconds:
                    break
                ev = json.loads(line)
                uid = ev.get("userId") or ""
                target = start + n / args.rate
                delay = target - time.time()
                if delay > 0:
                    time.sleep(delay)
                producer.produce(topic, key=uid.encode(), value=line.rstrip(b"\n"), timestamp=ev["ts"])
                producer.poll(0)
                n += 1
                if uid and ev.get("auth") not in ("Guest", "Logged Out"):
                    with lock:
                        counts[uid] = counts.get(uid, 0) + 1
                        sent.setdefault(uid, []).append((counts[uid], time.time()))
        producer.flush()
        time.sleep(max(5.0, 4 * args.trigger_seconds))
        stop.set()
        poller.join()
        measured = [lat for t_send, lat in latencies if t_send - start >= args.warmup_seconds]
        result = {"latency_input_events_per_s": round(n / (time.time() - start), 1), "latency_samples": len(measured),
                  "latency_first_line": skip,
                  "p50_s": round(percentile(measured, 50), 3), "p95_s": round(percentile(measured, 95), 3),
                  "p99_s": round(percentile(measured, 99), 3), "latency_refreshes": client.zcard(KEYS.cohorts)}
        print(f"[bench] latency, refresh {'on' if refresh else 'off'}: {result}", flush=True)
        return result
    finally:
        job.terminate()
        job.wait(60)


def limit(args, bootstrap: str, topic: str, events: int) -> dict:
    """The limit job over the same topic, in its own JVM as the job runs in its own."""
    run = run_in_own_jvm(bootstrap, topic, args.max_offsets, args.cores)
    if run["events"] != events:
        raise SystemExit(f"the limit job read {run['events']:,} records, the topic holds {events:,}")
    result = {"limit_events_per_s": run["events_per_s"], "limit_s": run["seconds"]}
    print(f"[bench] limit (parse, validate, aggregate; no scoring): {result}", flush=True)
    return result


def baseline(args, bootstrap: str, redis_url: str, model_dir: Path, topic: str, events: int) -> dict:
    sys.path.insert(0, str(Path(__file__).parent))
    from baseline_consumer import run

    n = min(events, args.baseline_events)
    res = run(bootstrap, topic, redis_url, str(model_dir), n)
    result = {"baseline_events": res.events, "baseline_s": round(res.seconds, 1),
              "baseline_events_per_s": round(res.events_per_s, 1)}
    print(f"[bench] baseline: {result}", flush=True)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--log", type=Path, help="log to replay (default: data/full/sparkify_full.json if present, "
                                            "else a simulated one of --users x --days)")
    p.add_argument("--users", type=int, default=22278)
    p.add_argument("--days", type=int, default=60)
    p.add_argument("--model-dir", type=Path, default=ROOT / "models")
    p.add_argument("--partitions", type=int, default=2)
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--max-offsets", type=int, default=2_000_000)
    p.add_argument("--rate", type=float, default=1000.0, help="paced input of the latency run (events/s)")
    p.add_argument("--trigger-seconds", type=float, default=0.5)
    # steady state: the first ~minute after the job starts measures the JVM's warm-up (JIT) more than the job
    p.add_argument("--latency-seconds", type=float, default=240.0)
    p.add_argument("--warmup-seconds", type=float, default=90.0)
    p.add_argument("--baseline-events", type=int, default=2_000_000,
                   help="the baseline's rate is measured on the first N events of the same topic")
    p.add_argument("--skip", nargs="*", default=[], choices=["throughput", "limit", "latency", "baseline"])
    p.add_argument("--refresh", choices=["both", "on", "off"], default="both",
                   help="run with the refresh and monitoring on, off, or both in this run (default both, off first)")
    args = p.parse_args()
    full = ROOT / "data" / "full" / "sparkify_full.json"
    log = args.log or (full if full.exists() and args.users == 22278 else simulated_log(args.users, args.days))
    log = log.resolve()
    events = count_lines(log)
    model_dir = ensure_model(args.model_dir.resolve(), log)
    result: dict = {"log": str(log), "cores": args.cores, "partitions": args.partitions}
    modes = {"both": (False, True), "on": (True,), "off": (False,)}[args.refresh]
    with local_services() as (broker, server), tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp:
        topic = None
        if "throughput" not in args.skip:
            topic = load_topic(args, broker.bootstrap, log, events)
            if "limit" not in args.skip:
                result.update(limit(args, broker.bootstrap, topic, events))
            for refresh in modes:
                run = throughput(args, broker.bootstrap, server.url, model_dir, topic, events, Path(tmp), refresh)
                result.update(run if refresh or len(modes) == 1 else {"refresh_off_events_per_s": run["events_per_s"]})
        if "latency" not in args.skip:
            for refresh in modes:
                run = latency(args, broker.bootstrap, server.url, model_dir, log, Path(tmp), refresh)
                result.update(run if refresh or len(modes) == 1 else {f"refresh_off_{k}": v for k, v in run.items()})
        if "baseline" not in args.skip and topic:
            result.update(baseline(args, broker.bootstrap, server.url, model_dir, topic, events))
    result["refresh"] = args.refresh
    if result.get("baseline_events_per_s") and result.get("events_per_s"):
        result["ratio"] = round(result["events_per_s"] / result["baseline_events_per_s"], 2)
    if result.get("limit_events_per_s") and result.get("events_per_s"):
        result["fraction_of_limit"] = round(result["events_per_s"] / result["limit_events_per_s"], 3)
    if result.get("refresh_off_events_per_s") and result.get("events_per_s"):
        result["refresh_throughput_ratio"] = round(result["events_per_s"] / result["refresh_off_events_per_s"], 3)
    if "refresh_off_p95_s" in result and "p95_s" in result:
        result["refresh_p95_added_s"] = round(result["p95_s"] - result["refresh_off_p95_s"], 3)
    emit(result)


if __name__ == "__main__":
    main()
