"""The streaming job: two Structured Streaming queries over the same Kafka topic.

* ``scores``: parse -> valid user events -> ``groupBy(userId).agg(<shared raw aggregates>)`` kept in Spark's
  state store (update mode, checkpointed) -> ``foreachBatch``: features as of the stream's event-time clock,
  risk and SHAP drivers computed on the executors (``mapInPandas``), written to Redis idempotently.
* ``intake``: parse -> count every record by verdict, send invalid ones to the dead-letter sink.

They are separate queries because a streaming aggregation has one output; the intake query costs a second
JSON parse and buys exact counts and dead letters without per-event Python.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from contracts.artifact import ArtifactError, ModelArtifact, latest_version, load_artifact
from contracts.features import raw_aggregate_columns
from contracts.redis_keys import RedisKeys
from contracts.settings import Settings
from streaming import intake
from contracts.parsing import classify_records, valid_events
from streaming.redis_sink import connect, with_retry
from streaming.scoring import RESULT_SCHEMA, ScoreContext, score_partitions

log = logging.getLogger("streaming")

_CLOCK_LUA = """
local cur = tonumber(redis.call('HGET', KEYS[1], 'clock_ms') or '-1')
local new = tonumber(ARGV[1])
if new > cur then redis.call('HSET', KEYS[1], 'clock_ms', ARGV[1]); return ARGV[1] end
return tostring(cur)
"""


@dataclass
class JobOptions:
    settings: Settings
    model_dir: Path
    checkpoint_dir: Path
    available_now: bool = False  # process what the topic holds, then stop (tests, benchmarks)
    dead_letter_sink: str = "redis"  # or "kafka"


def epoch_for(checkpoint_dir: Path, proposal: int) -> int:
    """The reference time of the decayed sums in this checkpoint's state.

    It must never change for a given state (the sums are relative to it), so it is fixed on the first run and
    read back on restarts. Features do not depend on it, so any model can be used with any epoch.
    """
    path = checkpoint_dir / "epoch_ms"
    if path.exists():
        return int(path.read_text().strip())
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(str(proposal))
    return proposal


class StreamingJob:
    def __init__(self, spark: SparkSession, options: JobOptions):
        self.spark = spark
        self.opts = options
        self.settings = options.settings
        self.keys = RedisKeys(self.settings.redis_prefix)
        self.redis = connect(self.settings.redis_url, **self.settings.redis_kwargs())
        self.artifact: ModelArtifact = self._load_model()
        self.epoch_ms = epoch_for(options.checkpoint_dir, self.artifact.epoch_ms)
        self.queries: list[StreamingQuery] = []

    # ---- model ---------------------------------------------------------------------------------------
    def _load_model(self) -> ModelArtifact:
        artifact = load_artifact(self.opts.model_dir)
        self._publish_model(artifact)
        return artifact

    def _publish_model(self, a: ModelArtifact) -> None:
        mapping = {
            "version": a.version, "threshold": repr(float(a.threshold)), "metrics": json.dumps(a.metrics),
            "features": json.dumps(list(a.feature_names)), "global_importance": json.dumps(a.global_importance),
            "artifact_dir": str(Path(a.path).resolve()), "horizon_days": str(a.horizon_days),
            "loaded_at": str(int(time.time() * 1000)),
        }
        with_retry(lambda: self.redis.hset(self.keys.model, mapping=mapping))

    def maybe_reload_model(self) -> None:
        """Pick up a new ``latest`` artifact between batches, without restarting the query."""
        version = latest_version(self.opts.model_dir)
        if version and version != self.artifact.version:
            try:
                artifact = load_artifact(self.opts.model_dir, version)
            except ArtifactError as exc:
                log.warning("new model %s not loaded: %s", version, exc)
                return
            self.artifact = artifact
            self._publish_model(artifact)
            log.info("model %s loaded", version)

    # ---- queries -------------------------------------------------------------------------------------
    def _source(self) -> DataFrame:
        s = self.settings
        reader = self.spark.readStream.format("kafka").options(**s.spark_kafka_options())
        # larger fetches than the consumer's defaults (1 MB per partition): a batch-mode read of 1M events took
        # 7.5 s with the defaults and 3.9-4.6 s with these on this machine
        reader = reader.options(**{"kafka.max.partition.fetch.bytes": str(16 << 20),
                                   "kafka.fetch.max.bytes": str(64 << 20)})
        return (reader.option("subscribe", s.topic).option("startingOffsets", s.starting_offsets)
                .option("maxOffsetsPerTrigger", str(s.max_offsets_per_trigger))
                .option("failOnDataLoss", "false").load())

    def _trigger(self) -> dict:
        if self.opts.available_now:
            return {"availableNow": True}
        return {"processingTime": f"{self.settings.trigger_seconds} seconds"}

    def start(self) -> list[StreamingQuery]:
        classified = classify_records(self._source())
        users = valid_events(classified).groupBy("userId").agg(*raw_aggregate_columns(self.epoch_ms))
        ckpt = self.opts.checkpoint_dir
        scores = (users.writeStream.queryName("scores").outputMode("update").foreachBatch(self._score_batch)
                  .option("checkpointLocation", str(ckpt / "scores")).trigger(**self._trigger()).start())
        records = classified.select("key", "value", "partition", "offset", "verdict", "reason", "userId", "ts",
                                    "firstName", "lastName", "location")
        intake_q = (records.writeStream.queryName("intake").foreachBatch(self._intake_batch)
                    .option("checkpointLocation", str(ckpt / "intake")).trigger(**self._trigger()).start())
        self.queries = [scores, intake_q]
        return self.queries

    # ---- per micro-batch -----------------------------------------------------------------------------
    def _score_batch(self, batch: DataFrame, batch_id: int) -> None:
        started = time.monotonic()
        batch.persist()
        try:
            stats = batch.agg(F.count(F.lit(1)).alias("n"), F.max("last_ts").alias("max_ts")).first()
            if not stats or stats["n"] == 0:
                return
            self.maybe_reload_model()
            script = self.redis.register_script(_CLOCK_LUA)
            clock = int(with_retry(lambda: script(keys=[self.keys.health], args=[int(stats["max_ts"])])))
            s = self.settings
            ctx = ScoreContext(
                model_dir=str(self.opts.model_dir), model_version=self.artifact.version, clock_ms=clock,
                epoch_ms=self.epoch_ms, redis_url=s.redis_url, redis_kwargs=tuple(sorted(s.redis_kwargs().items())),
                redis_prefix=s.redis_prefix, hysteresis=s.alert_hysteresis, alert_maxlen=s.alert_stream_maxlen,
                top_drivers=s.top_drivers)
            result = (batch.mapInPandas(score_partitions(ctx), RESULT_SCHEMA)
                      .agg(F.count(F.lit(1)).alias("scored"), F.sum((F.col("written") > 0).cast("int")).alias("written"),
                           F.sum((F.col("written") == 2).cast("int")).alias("alerts")).first())
            elapsed_ms = int((time.monotonic() - started) * 1000)
            health = {"batch_id": batch_id, "batch_ms": elapsed_ms, "last_batch_wall_ms": int(time.time() * 1000),
                      "last_batch_users": int(result["scored"] or 0)}
            pipe = self.redis.pipeline()
            pipe.hset(self.keys.health, mapping=health)
            pipe.hincrby(self.keys.health, "users_scored", int(result["written"] or 0))
            with_retry(pipe.execute)
            log.info("batch %d: %d users scored, %d written, %d alerts, clock %d, %d ms", batch_id,
                     result["scored"], result["written"] or 0, result["alerts"] or 0, clock, elapsed_ms)
        finally:
            batch.unpersist()

    def _intake_batch(self, batch: DataFrame, batch_id: int) -> None:
        counts, profiles = intake.batch_summary(batch)
        if counts["events_in"] == 0:
            return
        dead: list = []
        if counts["dead_letters"]:  # rare: the batch is read again from Kafka for the raw values
            invalid = batch.where(F.col("verdict") == "invalid")
            if self.opts.dead_letter_sink == "kafka":
                intake.write_dead_letters_to_kafka(invalid, self.settings.spark_kafka_options(),
                                                   self.settings.dead_letter_topic)
            else:
                dead = [(r["value"], r["reason"], r["partition"], r["offset"]) for r in
                        invalid.select("value", "reason", "partition", "offset")
                        .limit(intake.MAX_DEAD_LETTERS_PER_BATCH).collect()]
        intake.record_batch(self.redis, self.keys, batch_id, counts, dead, self.settings.alert_stream_maxlen)
        if profiles:
            intake.write_profiles(self.redis, self.keys, profiles)

    # ---- health --------------------------------------------------------------------------------------
    def publish_progress(self) -> None:
        """Stream health from the queries' progress: events/s, lag behind Kafka, batch duration."""
        fields: dict[str, str] = {}
        for q in self.queries:
            p = q.lastProgress
            if not p:
                continue
            if q.name == "intake":
                fields["events_per_s"] = f"{p.get('processedRowsPerSecond') or 0.0:.1f}"
                fields["input_per_s"] = f"{p.get('inputRowsPerSecond') or 0.0:.1f}"
                fields["lag"] = str(_lag(p))
            else:
                fields["trigger_ms"] = str((p.get("durationMs") or {}).get("triggerExecution", 0))
        if fields:
            with_retry(lambda: self.redis.hset(self.keys.health, mapping=fields), retry_for_s=5)

    def mark_started(self) -> None:
        """Record when the queries started (the benchmark measures from here, excluding Spark's start-up)."""
        with_retry(lambda: self.redis.hset(self.keys.health, "query_started_ms", int(time.time() * 1000)))

    def stop(self) -> None:
        for q in self.queries:
            try:
                q.stop()
            except Exception:  # stopping is best effort on shutdown
                log.debug("query stop failed", exc_info=True)


def _lag(progress: dict) -> int:
    """Records in Kafka not yet read: latest offsets minus the batch's end offsets, over all partitions."""
    total = 0
    for src in progress.get("sources") or []:
        latest, end = _offsets(src.get("latestOffset")), _offsets(src.get("endOffset"))
        for key, value in latest.items():
            total += max(0, value - end.get(key, 0))
    return total


def _offsets(raw) -> dict[str, int]:
    if not raw:
        return {}
    data = json.loads(raw) if isinstance(raw, str) else raw
    return {f"{t}:{p}": int(o) for t, parts in data.items() for p, o in parts.items()}
