"""What the transactional input costs the readers: an A/B of Kafka transactions and read_committed.

The same events go into two topics of one broker: one written by ``producer replay`` (in transactions, a commit
marker per partition about once a second), one by a plain idempotent producer with the same keys, timestamps,
partitioner and tuning (no transactions, no markers). Then, alternating, the streaming job's limit query
(``limit_job.py``: read, parse, validate, aggregate) reads

- ``txn_committed``: the transactional topic with read_committed (what the job does),
- ``txn_uncommitted``: the transactional topic with read_uncommitted (markers, no isolation),
- ``plain_uncommitted``: the plain topic with read_uncommitted (neither),

and the plain-Python baseline's consumer (kafka-python, ``baseline_consumer.py``, scoring included) reads the
first ``--baseline-events`` of each topic with read_committed and read_uncommitted respectively.

    .venv/bin/python benchmarks/bench_kafka_input.py [--log PATH] [--events 3000000] [--reps 3]

Last line: one JSON object: per arm the median events/s and the runs; the markers in the transactional topic;
the ratios txn_committed / plain_uncommitted for the limit and the baseline.
"""
from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from common import ROOT, emit, local_services, median, simulated_log
from limit_job import run_in_own_jvm

ARMS = {"txn_committed": ("txn", "read_committed"), "txn_uncommitted": ("txn", "read_uncommitted"),
        "plain_uncommitted": ("plain", "read_uncommitted")}


def head(log: Path, n: int, out: Path) -> int:
    """The first ``n`` lines of ``log`` into ``out``; how many were written."""
    count = 0
    with open(log, "rb") as src, open(out, "wb") as dst:
        for line in itertools.islice(src, n):
            dst.write(line)
            count += 1
    return count


def load_plain(log: Path, bootstrap: str, topic: str, partitions: int) -> float:
    """The log into ``topic`` without transactions: same key, timestamp, partitioner and tuning as the replay."""
    from contracts.settings import Settings
    from producer.kafka_out import ensure_topic, make_producer

    settings = Settings.from_env(kafka_bootstrap=bootstrap)
    ensure_topic(settings, topic, partitions)
    producer = make_producer(settings)
    started = time.perf_counter()
    with open(log, "rb") as fh:
        for line in fh:
            ev = json.loads(line)
            while True:
                try:
                    producer.produce(topic, line.rstrip(b"\n"), (ev.get("userId") or "").encode(),
                                     timestamp=ev["ts"])
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
    if producer.flush(120):
        raise SystemExit("the plain load did not deliver every record")
    return time.perf_counter() - started


def end_offsets(bootstrap: str, topic: str) -> int:
    """The sum of the topic's end offsets: records plus commit markers."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-ab-offsets"})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts)
    finally:
        c.close()


def alternated(name: str, arms: list[str], reps: int, run_one: Callable[[str], float]) -> dict:
    """``reps`` runs of each arm, the order reversed every other rep (so drift in the machine's load cancels);
    per arm its runs and their median, and the median of ``txn_committed`` over that of ``plain_uncommitted``."""
    runs: dict[str, list[float]] = {arm: [] for arm in arms}
    for rep in range(reps):
        for arm in (arms if rep % 2 == 0 else arms[::-1]):
            runs[arm].append(run_one(arm))
            print(f"[ab] {name} {arm} run {rep + 1}: {runs[arm][-1]:,.0f} events/s", flush=True)
    out: dict = {}
    for arm, values in runs.items():
        out[f"{name}_{arm}_events_per_s"] = round(median(values), 1)
        out[f"{name}_{arm}_runs"] = values
    out[f"{name}_txn_committed_vs_plain"] = round(median(runs["txn_committed"]) / median(runs["plain_uncommitted"]), 3)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--log", type=Path, help="default: data/full/sparkify_full.json if present, else a simulated log")
    p.add_argument("--events", type=int, default=3_000_000, help="the first N events of the log")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--partitions", type=int, default=2)
    p.add_argument("--max-offsets", type=int, default=2_000_000)
    p.add_argument("--baseline-events", type=int, default=1_000_000, help="0: no baseline arms")
    p.add_argument("--model-dir", type=Path, default=ROOT / "models")
    args = p.parse_args()
    full = ROOT / "data" / "full" / "sparkify_full.json"
    log = args.log or (full if full.exists() else simulated_log(1500, 30, seed=2))
    result: dict = {"log": str(log)}
    with local_services() as (broker, server), tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp:
        part = Path(tmp) / "events.json"
        n = head(log, args.events, part)
        topics = {"txn": f"ab-txn-{int(time.time())}", "plain": f"ab-plain-{int(time.time())}"}
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "producer", "replay", str(part), "--max", "--topic", topics["txn"],
                        "--partitions", str(args.partitions), "--bootstrap", broker.bootstrap], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
        txn_s = time.perf_counter() - t0
        plain_s = load_plain(part, broker.bootstrap, topics["plain"], args.partitions)
        markers = end_offsets(broker.bootstrap, topics["txn"]) - n
        result.update(events=n, markers=markers, plain_end_offsets=end_offsets(broker.bootstrap, topics["plain"]),
                      load_txn_s=round(txn_s, 1), load_plain_s=round(plain_s, 1))
        print(f"[ab] {n:,} events in both topics; {markers:,} commit markers in {topics['txn']}", flush=True)

        def limit_arm(arm: str) -> float:
            kind, isolation = ARMS[arm]
            r = run_in_own_jvm(broker.bootstrap, topics[kind], args.max_offsets, isolation=isolation)
            if r["events"] != n:
                raise SystemExit(f"{arm}: the limit job read {r['events']:,} records of {n:,}")
            return r["events_per_s"]

        result.update(alternated("limit", list(ARMS), args.reps, limit_arm))
        if args.baseline_events:
            from baseline_consumer import run as baseline_run

            def baseline_arm(arm: str) -> float:
                kind, isolation = ARMS[arm]
                res = baseline_run(broker.bootstrap, topics[kind], server.url, str(args.model_dir),
                                   min(n, args.baseline_events), isolation_level=isolation)
                return round(res.events_per_s, 1)

            result.update(alternated("baseline", ["txn_committed", "plain_uncommitted"], args.reps, baseline_arm))
    emit(result)


if __name__ == "__main__":
    main()
