"""`python -m streaming`: run the streaming scorer until stopped (Ctrl-C / SIGTERM stop it cleanly);
`python -m streaming monitor [--json]` prints the monitoring state (`streaming.monitor`).

Also runnable as ``spark-submit streaming/__main__.py ...`` against a Spark cluster (the Kafka connector jars
must then be on the cluster's classpath, e.g. ``--jars`` or ``SPARKIFY_SPARK_JARS_DIR``).
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from pathlib import Path

from contracts.redaction import redact_url
from contracts.settings import Settings, settings_or_report


def build_parser(defaults: Settings) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m streaming", description=__doc__,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--bootstrap", default=defaults.kafka_bootstrap, help="Kafka bootstrap servers")
    p.add_argument("--topic", default=defaults.topic, help="Kafka topic of events")
    p.add_argument("--starting-offsets", default=defaults.starting_offsets, help="earliest or latest (first run only)")
    p.add_argument("--max-offsets-per-trigger", type=int, default=defaults.max_offsets_per_trigger,
                   help="most Kafka records per micro-batch")
    p.add_argument("--trigger-seconds", type=float, default=defaults.trigger_seconds, help="micro-batch interval")
    p.add_argument("--model-dir", type=Path, default=defaults.model_dir, help="folder of model artifacts (uses 'latest')")
    p.add_argument("--checkpoint-dir", type=Path, default=defaults.checkpoint_dir, help="Spark checkpoints and state")
    p.add_argument("--redis-url", default=defaults.redis_url, help="Redis URL (rediss:// for TLS)")
    p.add_argument("--master", default=defaults.spark_master, help="Spark master (ignored under spark-submit)")
    p.add_argument("--shuffle-partitions", type=int, default=defaults.shuffle_partitions,
                   help="state partitions (fixed once a checkpoint exists)")
    p.add_argument("--dead-letter-sink", choices=["redis", "kafka"], default="redis",
                   help="where invalid records go: the Redis stream or the dead-letter Kafka topic")
    p.add_argument("--available-now", action="store_true",
                   help="process what the topic holds now, then stop (batch-style runs, tests, benchmarks)")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["monitor"]:  # the monitoring read-out: Redis only, no Spark
        from streaming.monitor import main as monitor

        return monitor(argv[1:])
    defaults = settings_or_report()
    if defaults is None:
        return 2
    args = build_parser(defaults).parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("py4j", "pyspark"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = defaults.replace(
        kafka_bootstrap=args.bootstrap, topic=args.topic, starting_offsets=args.starting_offsets,
        max_offsets_per_trigger=args.max_offsets_per_trigger, trigger_seconds=args.trigger_seconds,
        redis_url=args.redis_url, spark_master=args.master, shuffle_partitions=args.shuffle_partitions)

    from redis import RedisError

    from contracts.artifact import ArtifactError, load_artifact

    try:  # fail fast, before Spark starts, when there is no usable model
        load_artifact(args.model_dir)
    except ArtifactError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    from contracts.spark_session import build_session
    from streaming.job import JobOptions, StreamingJob

    try:
        spark = build_session("sparkify-streaming", master=settings.spark_master,
                              shuffle_partitions=settings.shuffle_partitions,
                              extra_conf=settings.spark_streaming_conf())
        job = StreamingJob(spark, JobOptions(settings, args.model_dir, args.checkpoint_dir,
                                             available_now=args.available_now, dead_letter_sink=args.dead_letter_sink))
    except ArtifactError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RedisError as exc:
        print(f"error: Redis at {redact_url(settings.redis_url)} is not reachable: {exc}", file=sys.stderr)
        return 2

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    query = job.start()
    job.mark_started()
    logging.getLogger("streaming").info("streaming from %s topic %s into %s", settings.kafka_bootstrap,
                                         settings.topic, redact_url(settings.redis_url))
    failed = False
    try:
        while not stop.is_set() and query.isActive:
            if query.exception():
                break
            stop.wait(1.0)
            try:
                job.publish_progress()
            except Exception as exc:  # health is informative; never stop scoring for it
                logging.getLogger("streaming").debug("progress not published: %s", exc)
        if query.exception():
            failed = True
            print(f"error: query {query.name} failed: {str(query.exception()).splitlines()[0]}", file=sys.stderr)
    finally:
        job.stop()
        try:
            job.publish_progress()
        except Exception:
            pass
        spark.stop()
    return 1 if failed else 0
