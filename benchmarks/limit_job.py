"""The streaming job's limit: the same query over the same topic, with nothing after the aggregation.

It reads the topic as the job does (``streaming.job.kafka_source``: read_committed, the same fetch sizes and
``maxOffsetsPerTrigger``), parses, validates and aggregates per user (``streaming.job.user_aggregates``: the
shared raw aggregates in RocksDB state, checkpointed) and drops the result (the ``noop`` sink): no scoring, no
SHAP, no Redis. The job cannot go faster than this on the same machine, so the job's events/s divided by this
one's is the share of the limit it reaches (``fraction_of_limit`` in ``bench_streaming.py``).

    .venv/bin/python benchmarks/limit_job.py --bootstrap HOST:PORT --topic T [--max-offsets N] [--cores 2]
        [--isolation read_committed|read_uncommitted]

Last line: one JSON object with events (records read), seconds (from the query's start to its end, as the job's
figure: Spark's start-up excluded), events_per_s, batches.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, emit

from contracts.settings import Settings


class InputRows:
    """Counts the records every micro-batch read (a streaming query listener on the driver)."""

    def __init__(self) -> None:
        self.rows = 0
        self.batches = 0

    def listener(self):
        from pyspark.sql.streaming import StreamingQueryListener

        counter = self

        class _Listener(StreamingQueryListener):
            def onQueryStarted(self, event) -> None:
                pass

            def onQueryProgress(self, event) -> None:
                counter.rows += int(event.progress.numInputRows)
                counter.batches += 1

            def onQueryIdle(self, event) -> None:
                pass

            def onQueryTerminated(self, event) -> None:
                pass

        return _Listener()


def run_limit(bootstrap: str, topic: str, max_offsets: int, cores: int, isolation: str = "read_committed",
              epoch_ms: int = 1_538_352_000_000) -> dict:
    """Run the limit query with ``availableNow`` over everything ``topic`` holds; its figures.

    ``epoch_ms`` is the decayed sums' reference time: any time near the data costs the same.
    """
    from contracts.spark_session import build_session
    from streaming.job import kafka_source, user_aggregates

    settings = Settings.from_env(kafka_bootstrap=bootstrap, topic=topic, max_offsets_per_trigger=max_offsets,
                                 starting_offsets="earliest", shuffle_partitions=max(2, cores))
    spark = build_session("sparkify-limit", f"local[{cores}]", max(2, cores))
    rows = InputRows()
    spark.streams.addListener(rows.listener())
    with tempfile.TemporaryDirectory(prefix="limit-ckpt-") as ckpt:
        users = user_aggregates(kafka_source(spark, settings, **{"kafka.isolation.level": isolation}), epoch_ms)
        query = (users.writeStream.queryName("limit").outputMode("update").format("noop")
                 .option("checkpointLocation", str(Path(ckpt) / "limit")).trigger(availableNow=True).start())
        started = time.perf_counter()
        query.awaitTermination()
        seconds = time.perf_counter() - started
        time.sleep(1.0)  # the listener's last progress event arrives asynchronously
    spark.stop()
    return {"events": rows.rows, "seconds": round(seconds, 1), "batches": rows.batches,
            "events_per_s": round(rows.rows / seconds, 1) if seconds else 0.0, "isolation": isolation}


def run_in_own_jvm(bootstrap: str, topic: str, max_offsets: int, cores: int = 2,
                   isolation: str = "read_committed") -> dict:
    """:func:`run_limit` in a process of its own (a fresh JVM, as the job runs in its own); its figures."""
    out = subprocess.run([sys.executable, __file__, "--bootstrap", bootstrap, "--topic", topic, "--max-offsets",
                          str(max_offsets), "--cores", str(cores), "--isolation", isolation],
                         check=True, cwd=ROOT, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--max-offsets", type=int, default=2_000_000)
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--isolation", choices=["read_committed", "read_uncommitted"], default="read_committed")
    args = p.parse_args()
    emit(run_limit(args.bootstrap, args.topic, args.max_offsets, args.cores, args.isolation))


if __name__ == "__main__":
    main()
