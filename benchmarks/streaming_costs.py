"""Where the streaming job's time goes: the per-event JVM stages, timed one by one in batch mode.

Loads a log into a local Kafka topic, then runs each stage of the job's pipeline as a batch Spark job over the
whole topic and reports the JVM's CPU time per event (robust on a shared machine, where wall time is not) and
the wall time: Kafka read, JSON parse, the full validation (``contracts.parsing.classify_records``), and the
job's aggregation by (kind, userId) after it.

    .venv/bin/python benchmarks/streaming_costs.py [--log PATH] [--reps 3]

Last line: one JSON object, stage -> {cpu_us_per_event, wall_s}.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, emit, local_services, median, simulated_log


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--log", type=Path, help="log to load (default: a simulated 1,500-user, 30-day log)")
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args()
    log = (args.log or simulated_log(1500, 30, seed=2)).resolve()

    import psutil
    from pyspark.sql import functions as F

    from contracts.features import raw_aggregate_columns
    from contracts.parsing import JSON_OPTIONS, _parse_schema, classify_records
    from contracts.schema import FIELD_NAMES
    from contracts.spark_session import build_session
    from streaming.kinds import KIND, grouping, position_column

    with local_services(redis=False) as (broker, _):
        subprocess.run([sys.executable, "-m", "producer", "replay", str(log), "--max", "--topic", "costs",
                        "--partitions", "2", "--bootstrap", broker.bootstrap], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
        spark = build_session("streaming-costs", "local[2]", 2)
        jvm = psutil.Process(spark._jvm.java.lang.ProcessHandle.current().pid())

        def source(big_fetch: bool = True):
            r = spark.read.format("kafka").option("kafka.bootstrap.servers", broker.bootstrap).option("subscribe", "costs")
            if big_fetch:  # as streaming/job.py reads
                r = r.option("kafka.max.partition.fetch.bytes", str(16 << 20)).option("kafka.fetch.max.bytes", str(64 << 20))
            return r.load()

        n = source().count()
        epoch = 1_538_352_000_000
        stages = {
            "kafka_read_default_fetch": source(False).select(F.length("value")),
            "kafka_read": source().select(F.length("value")),
            "from_json": source().select(F.from_json(F.col("value").cast("string"), _parse_schema(), JSON_OPTIONS)
                                         .alias("e")).select("e.*"),
            "classify": classify_records(source()).select("verdict", "reason", *FIELD_NAMES),
            # what the job's one query does per event: classify, then aggregate by (kind, userId)
            "job_classify_and_aggregate": grouping(classify_records(source())).groupBy(KIND, "userId")
            .agg(*raw_aggregate_columns(epoch), position_column()),
        }
        result: dict = {"events": n, "log": str(log)}
        for name, df in stages.items():
            cpu, wall = [], []
            for _ in range(args.reps):
                c0, w0 = sum(jvm.cpu_times()[:2]), time.perf_counter()
                df.write.format("noop").mode("overwrite").save()
                cpu.append(sum(jvm.cpu_times()[:2]) - c0)
                wall.append(time.perf_counter() - w0)
            result[name] = {"cpu_us_per_event": round(median(cpu) * 1e6 / n, 1), "wall_s": round(median(wall), 1)}
            print(f"[costs] {name}: {result[name]}", flush=True)
        spark.stop()
    emit(result)


if __name__ == "__main__":
    main()
