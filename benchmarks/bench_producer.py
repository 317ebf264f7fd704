"""Producer benchmark: unthrottled replay throughput vs Kafka's Java ProducerPerformance, and pace accuracy.

1. A 1M-event log from the simulator (``python -m producer generate``, cached in .local/bench/).
2. A fresh local broker (devstack KafkaBroker, free port, temp folder).
3. ``python -m producer replay LOG --max --limit N`` into a fresh 2-partition topic, 3 times: events/s =
   acknowledged / (first line read .. last ack), as the replay summary reports it; median.
4. ``org.apache.kafka.tools.ProducerPerformance`` with the same record count, payloads taken from the same
   log (so sizes and compressibility match) and the same producer settings (acks=all, idempotence,
   linger, batch size, compression, max in flight): median of 3 runs.
5. ``--rate 2000 --duration 60``: records in the topic / 120,000 = rate_accuracy.

Last line: one JSON object (events_per_s, java_events_per_s, ratio, rate_accuracy, ...).
Usage: .venv/bin/python benchmarks/bench_producer.py [--events N] [--runs 3] [--rate-seconds 60]
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack.services import KafkaBroker, find_java, free_port  # noqa: E402
from producer.kafka_out import PRODUCER_TUNING  # noqa: E402

PY = sys.executable
CACHE = ROOT / ".local" / "bench"


def ensure_log(events: int) -> Path:
    """A simulated log with at least ``events`` events (generated once, then reused)."""
    users = max(10, int(events / 1250))  # ~1,250 events per user over 63 days
    path = CACHE / f"producer-sim-u{users}-d63-s7.json"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        print(f"generating {path} ...", flush=True)
        subprocess.run([PY, "-m", "producer", "generate", "--users", str(users), "--days", "63", "--seed", "7",
                        "--out", str(path)], cwd=ROOT, check=True)
    with open(path, "rb") as fh:
        n = sum(1 for _ in fh)
    if n < events:
        raise SystemExit(f"{path} holds {n} events < {events}; delete it and raise the user count")
    return path


def replay_once(broker: KafkaBroker, log: Path, topic: str, *extra: str) -> dict:
    out = subprocess.run([PY, "-m", "producer", "replay", str(log), "--bootstrap", broker.bootstrap,
                          "--topic", topic, "--partitions", "2", "--json", "--state",
                          str(Path(tempfile.gettempdir()) / f"bench-{topic}.json"), *extra],
                         cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"replay failed ({out.returncode}): {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def java_once(broker: KafkaBroker, payloads: Path, records: int, topic: str) -> float:
    create_topic(broker, topic)
    t = PRODUCER_TUNING
    props = [f"bootstrap.servers={broker.bootstrap}", "acks=all", "enable.idempotence=true",
             f"linger.ms={t['linger.ms']}", f"batch.size={t['batch.size']}",
             f"compression.type={t['compression.type']}",
             f"max.in.flight.requests.per.connection={t['max.in.flight.requests.per.connection']}",
             "buffer.memory=268435456"]
    cmd = [find_java(), "-Xmx1g", "-cp", str(ROOT / ".jars" / "broker" / "*"),
           "org.apache.kafka.tools.ProducerPerformance", "--topic", topic, "--num-records", str(records),
           "--throughput", "-1", "--payload-file", str(payloads), "--producer-props", *props]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    m = re.findall(r"(\d+) records sent, ([\d.]+) records/sec", out.stdout)
    if out.returncode != 0 or not m:
        raise SystemExit(f"ProducerPerformance failed: {(out.stderr or out.stdout)[-2000:]}")
    sent, rate = m[-1]
    if int(sent) != records:
        raise SystemExit(f"ProducerPerformance sent {sent} of {records}")
    return float(rate)


def create_topic(broker: KafkaBroker, topic: str, partitions: int = 2) -> None:
    from contracts.settings import Settings
    from producer.kafka_out import ensure_topic

    ensure_topic(Settings(kafka_bootstrap=broker.bootstrap), topic, partitions)


def topic_count(broker: KafkaBroker, topic: str, idle_s: float = 5.0) -> int:
    """Committed records in the topic, counted by reading them (read_committed).

    The replay writes in transactions, so a partition's watermark span also counts the commit markers; only a
    read tells records from markers.
    """
    from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "bench-count", "enable.auto.commit": False,
                  "isolation.level": "read_committed", "enable.partition.eof": True})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        c.assign([TopicPartition(topic, p, 0) for p in parts])
        count, done, deadline = 0, set(), time.monotonic() + idle_s
        while len(done) < len(parts) and time.monotonic() < deadline:
            for m in c.consume(num_messages=10_000, timeout=1.0):
                if m.error() and m.error().code() == KafkaError._PARTITION_EOF:
                    done.add(m.partition())
                elif m.error():
                    raise KafkaException(m.error())
                else:
                    count += 1
                    deadline = time.monotonic() + idle_s
        return count
    finally:
        c.close()


def payload_sample(log: Path, out: Path, n: int = 20_000) -> float:
    """First ``n`` lines as ProducerPerformance payloads; returns their mean size in bytes."""
    sizes = []
    with open(log, "rb") as src, open(out, "wb") as dst:
        for line in src:
            dst.write(line)
            sizes.append(len(line) - 1)
            if len(sizes) >= n:
                break
    return statistics.fmean(sizes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rate", type=int, default=2000)
    ap.add_argument("--rate-seconds", type=float, default=60.0)
    args = ap.parse_args()

    log = ensure_log(args.events)
    with tempfile.TemporaryDirectory(prefix="bench-producer-") as tmp:
        broker = KafkaBroker("kafka", free_port(), Path(tmp) / "kafka", heap="1g").start()
        try:
            ours = []
            for i in range(args.runs):
                s = replay_once(broker, log, f"bench-py-{i}", "--max", "--limit", str(args.events))
                assert s["acknowledged"] == args.events and s["failed"] == 0, s
                assert topic_count(broker, f"bench-py-{i}") == args.events
                ours.append(s["events_per_s"])
                print(f"replay run {i + 1}: {s['events_per_s']:,.0f} events/s ({s['elapsed_s']:.1f} s)", flush=True)
            payloads = Path(tmp) / "payloads.txt"
            mean_size = payload_sample(log, payloads)
            java = []
            for i in range(args.runs):
                java.append(java_once(broker, payloads, args.events, f"bench-java-{i}"))
                print(f"ProducerPerformance run {i + 1}: {java[-1]:,.0f} records/s", flush=True)
            expected = args.rate * args.rate_seconds
            s = replay_once(broker, log, "bench-rate", "--rate", str(args.rate), "--duration",
                            str(args.rate_seconds))
            delivered = topic_count(broker, "bench-rate")
            print(f"--rate {args.rate} for {args.rate_seconds:.0f} s: {delivered:,} delivered "
                  f"(expected {expected:,.0f}; replay reports {s['acknowledged']:,} in {s['elapsed_s']:.2f} s)",
                  flush=True)
        finally:
            broker.stop()
    py, jv = statistics.median(ours), statistics.median(java)
    result = {"events_per_s": round(py), "java_events_per_s": round(jv), "ratio": round(py / jv, 3),
              "rate_accuracy": round(delivered / expected, 4), "events": args.events, "runs": args.runs,
              "mean_record_bytes": round(mean_size, 1), "replay_runs": [round(x) for x in ours],
              "java_runs": [round(x) for x in java], "rate_delivered": delivered,
              "settings": {k: PRODUCER_TUNING[k] for k in ("linger.ms", "batch.size", "compression.type")}}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
