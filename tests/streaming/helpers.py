"""Shared pieces of the streaming tests: a simulated log, a Kafka topic holding it, a run of the job."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[2]


def simulate_log(out: Path, users: int = 40, days: int = 21, seed: int = 5) -> Path:
    subprocess.run([sys.executable, "-m", "producer", "generate", "--users", str(users), "--days", str(days),
                    "--seed", str(seed), "--out", str(out)], check=True, cwd=ROOT, capture_output=True)
    return out


def log_lines(log: Path) -> list[bytes]:
    """The log's records as Kafka values: each non-blank line without its newline."""
    with open(log, "rb") as fh:
        return [line.rstrip(b"\n") for line in fh if line.strip()]


def produce_lines(bootstrap: str, topic: str, lines: list[bytes], partitions: int = 2) -> None:
    """Lines to a fresh topic, keyed by userId as the replay does (unparseable lines get a fixed key)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, batch_size=256 * 1024)
    for line in lines:
        try:
            key = (json.loads(line).get("userId") or "").encode()
        except (ValueError, AttributeError):
            key = b"__invalid__"
        producer.send(topic, key=key, value=line)
    producer.flush()
    producer.close()


def run_job(spark, settings, model_dir: Path, checkpoint_dir: Path, timeout_s: float = 300) -> None:
    """Run the streaming job until it has processed everything the topic holds (availableNow)."""
    from streaming.job import JobOptions, StreamingJob

    job = StreamingJob(spark, JobOptions(settings, model_dir, checkpoint_dir, available_now=True))
    query = job.start()
    query.awaitTermination(timeout_s)
    if query.exception():
        raise AssertionError(f"query {query.name} failed: {query.exception()}")
    job.profiles.wait()  # the last batch's names (raising what their fetch raised), as the CLI's stop does
    job.publish_progress()
