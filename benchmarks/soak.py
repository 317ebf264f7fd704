"""Soak: a paced stream (default 2,000 events/s) into the streaming job for --minutes; does anything grow?

A simulated log (``--users`` users; looped with ts shifted forward each pass, as ``replay --loop`` does) is
produced at ``--rate`` with the producer's own Kafka settings (``producer.kafka_out``) by this process, which
knows each event's send time; so latency is exact: the user hash's ``scored_at`` once its ``n_events`` covers
the event, minus the send time (as ``bench_streaming.py`` measures it).

Every ~10 s it samples the RSS of each process (the streaming driver + its JVM + Python workers, this producer,
Kafka, Redis), Redis ``used_memory`` and ``DBSIZE``, and the job's lag. Printed at the end: start (after
warm-up) and end RSS, Redis growth against the user count, latency p95 per window. Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict, deque
from pathlib import Path

import psutil
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import ROOT, emit, local_services, percentile, poll_latency, simulated_log  # noqa: E402

PREFIX = "sparkify"


def tree_rss(pid: int) -> dict[str, int]:
    """RSS in bytes of a process and its descendants, split into the JVM(s) and the Python processes."""
    out = {"jvm": 0, "python": 0}
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return out
    for p in procs:
        try:
            rss = p.memory_info().rss
            out["jvm" if "java" in p.name() else "python"] += rss
        except psutil.NoSuchProcess:
            continue
    return out


def rss(pid: int | None) -> int:
    try:
        return psutil.Process(pid).memory_info().rss if pid else 0
    except psutil.NoSuchProcess:
        return 0


def ensure_model(model_dir: Path | None, log: Path, tmp: Path) -> Path:
    """The given model folder, or a quick synthetic one: the soak measures resources, not model quality."""
    if model_dir is not None and (model_dir / "latest").exists():
        return model_dir
    from tests.reliability.common import DAY_MS, first_ts, synthetic_model

    print("[soak] no model given: using a quick synthetic one (risk rises with days since last event)", flush=True)
    return synthetic_model(tmp / "models", first_ts(log) // DAY_MS * DAY_MS)


class Feeder:
    """Produces the looped log at a fixed rate and remembers, per user, when each counted event was sent."""

    def __init__(self, bootstrap: str, topic: str, log: Path, rate: float):
        from contracts.settings import Settings
        from producer.kafka_out import make_producer

        self.producer = make_producer(Settings.from_env().replace(kafka_bootstrap=bootstrap))
        self.topic, self.rate = topic, rate
        self.log = log
        self.shift = _last_ts(log) - _first_ts(log) + 1000
        self.sent = 0
        self.pending: dict[str, deque] = defaultdict(deque)  # user -> (cumulative count, send time)
        self.counts: dict[str, int] = defaultdict(int)
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def run(self) -> None:
        start = time.time()
        passes = 0
        while not self.stop.is_set():
            for line in _lines(self.log):
                if self.stop.is_set():
                    break
                delay = start + self.sent / self.rate - time.time()
                if delay > 0:
                    time.sleep(delay)
                ev = json.loads(line)
                if passes:
                    ev["ts"] += passes * self.shift
                    line = json.dumps(ev, separators=(",", ":")).encode()
                uid = ev.get("userId") or ""
                self.producer.produce(self.topic, key=uid.encode(), value=line)
                self.producer.poll(0)
                self.sent += 1
                if uid:
                    with self.lock:
                        self.counts[uid] += 1
                        self.pending[uid].append((self.counts[uid], time.time()))
            passes += 1
        self.producer.flush(30)


def _lines(log: Path):
    """The log's lines, streamed (the producer must not hold the log in memory: its RSS is measured)."""
    with open(log, "rb") as fh:
        for line in fh:
            if line.strip():
                yield line.rstrip(b"\n")


def _first_ts(log: Path) -> int:
    return int(json.loads(next(_lines(log)))["ts"])


def _last_ts(log: Path) -> int:
    with open(log, "rb") as fh:
        fh.seek(max(0, fh.seek(0, 2) - 65536))
        return int(json.loads(fh.read().strip().splitlines()[-1])["ts"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--rate", type=float, default=2000.0, help="events per second")
    p.add_argument("--users", type=int, default=1500, help="users in the simulated log (the Redis key count is bounded by it)")
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--seed", type=int, default=2)
    p.add_argument("--model-dir", type=Path, default=None, help="model artifacts (default: a quick synthetic model)")
    p.add_argument("--sample-seconds", type=float, default=10.0)
    p.add_argument("--window-minutes", type=float, default=5.0, help="latency p95 per window of this length")
    p.add_argument("--warmup-seconds", type=float, default=60.0, help="start RSS is taken after this")
    p.add_argument("--trigger-seconds", type=float, default=1.0)
    args = p.parse_args()

    log = simulated_log(args.users, args.days, args.seed)
    with local_services() as (broker, server), tempfile.TemporaryDirectory(prefix="sparkify-soak-") as tmp:
        model_dir = ensure_model(args.model_dir, log, Path(tmp))
        client = redis.Redis.from_url(server.url, decode_responses=True)
        topic = f"soak-{int(time.time())}"
        subprocess.run([sys.executable, "-m", "producer", "replay", str(log), "--limit", "1", "--topic", topic,
                        "--partitions", "2", "--bootstrap", broker.bootstrap], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)  # creates the topic (2 partitions) the way a user would
        job = subprocess.Popen([sys.executable, "-m", "streaming", "--bootstrap", broker.bootstrap, "--topic", topic,
                                "--redis-url", server.url, "--model-dir", str(model_dir), "--checkpoint-dir",
                                str(Path(tmp) / "ckpt"), "--trigger-seconds", str(args.trigger_seconds),
                                "--max-offsets-per-trigger", "200000", "--log-level", "WARNING"], cwd=ROOT)
        try:
            deadline = time.time() + 300
            while not client.hget(f"{PREFIX}:health", "last_batch_wall_ms"):
                if time.time() > deadline or job.poll() is not None:
                    raise SystemExit("error: the streaming job did not start")
                time.sleep(0.5)
            feeder = Feeder(broker.bootstrap, topic, log, args.rate)
            latencies: list[tuple[float, float]] = []
            stop = threading.Event()
            threads = [threading.Thread(target=feeder.run, daemon=True),
                       threading.Thread(target=poll_latency, daemon=True,
                                        args=(client, PREFIX, feeder.pending, feeder.lock, latencies, stop))]
            for t in threads:
                t.start()
            start = time.time()
            samples = []
            while time.time() - start < args.minutes * 60:
                time.sleep(args.sample_seconds)
                if job.poll() is not None:
                    raise SystemExit(f"error: the streaming job exited with {job.returncode} during the soak")
                tree = tree_rss(job.pid)
                info = client.info("memory")
                health = client.hgetall(f"{PREFIX}:health")
                s = {"t": round(time.time() - start, 1), "streaming_jvm": tree["jvm"], "streaming_python": tree["python"],
                     "producer": psutil.Process().memory_info().rss, "kafka": rss(broker.proc.pid),
                     "redis": rss(server.proc.pid), "redis_used_memory": int(info["used_memory"]),
                     "dbsize": client.dbsize(), "users": client.zcard(f"{PREFIX}:risk") + client.zcard(f"{PREFIX}:churned"),
                     "sent": feeder.sent, "events_in": int(health.get("events_in", 0)), "lag": int(health.get("lag", 0))}
                samples.append(s)
                mb = lambda b: f"{b / 2**20:.0f}"  # noqa: E731
                print(f"[soak] t={s['t']:.0f}s sent={s['sent']} in={s['events_in']} lag={s['lag']} "
                      f"jvm={mb(s['streaming_jvm'])}MB py={mb(s['streaming_python'])}MB prod={mb(s['producer'])}MB "
                      f"kafka={mb(s['kafka'])}MB redis={mb(s['redis'])}MB used={mb(s['redis_used_memory'])}MB "
                      f"keys={s['dbsize']} users={s['users']}", flush=True)
            feeder.stop.set()
            threads[0].join(60)
            time.sleep(max(5.0, 4 * args.trigger_seconds))
            stop.set()
            threads[1].join(10)
        finally:
            job.terminate()
            try:
                job.wait(60)
            except subprocess.TimeoutExpired:
                job.kill()
    emit(summarise(samples, latencies, start, args))


def summarise(samples: list[dict], latencies: list[tuple[float, float]], start: float, args) -> dict:
    """Start (first sample after warm-up) vs end figures, Redis growth per user, latency p95 per window."""
    if not samples:
        raise SystemExit("error: no samples (run longer than --sample-seconds)")
    warm = [s for s in samples if s["t"] >= args.warmup_seconds] or samples
    first, last = warm[0], samples[-1]
    procs = ["streaming_jvm", "streaming_python", "producer", "kafka", "redis"]
    mb = lambda b: round(b / 2**20, 1)  # noqa: E731
    windows = []
    width = args.window_minutes * 60
    n_windows = max(1, int(-(-(samples[-1]["t"]) // width)))
    for w in range(n_windows):
        lat = [x for t, x in latencies if w * width <= t - start < (w + 1) * width]
        windows.append({"window": w, "from_s": int(w * width), "samples": len(lat),
                        "p50_s": round(percentile(lat, 50), 3), "p95_s": round(percentile(lat, 95), 3)})
    print(f"[soak] RSS MB start (t={first['t']:.0f}s) -> end (t={last['t']:.0f}s):")
    for name in procs:
        print(f"[soak]   {name:17s} {mb(first[name]):8.1f} -> {mb(last[name]):8.1f}")
    per_user = (last["redis_used_memory"] / last["users"]) if last["users"] else 0
    print(f"[soak] Redis used_memory {mb(first['redis_used_memory'])} -> {mb(last['redis_used_memory'])} MB, keys "
          f"{first['dbsize']} -> {last['dbsize']}, users {first['users']} -> {last['users']} "
          f"({per_user / 1024:.1f} KB per user)")
    for w in windows:
        print(f"[soak] latency window {w['window']} (from {w['from_s']} s): p50 {w['p50_s']} s, p95 {w['p95_s']} s, "
              f"{w['samples']} samples")
    return {"minutes": args.minutes, "rate": args.rate, "users_in_log": args.users, "sent": last["sent"],
            "events_in": last["events_in"], "achieved_events_per_s": round(last["sent"] / max(1.0, last["t"]), 1),
            "final_lag": last["lag"], "rss_start_mb": {k: mb(first[k]) for k in procs},
            "rss_end_mb": {k: mb(last[k]) for k in procs}, "redis_used_memory_mb": [mb(first["redis_used_memory"]),
                                                                                    mb(last["redis_used_memory"])],
            "dbsize": [first["dbsize"], last["dbsize"]], "users": [first["users"], last["users"]],
            "latency_p95_s_per_window": [w["p95_s"] for w in windows], "latency_samples": len(latencies),
            "samples": len(samples)}


if __name__ == "__main__":
    main()
