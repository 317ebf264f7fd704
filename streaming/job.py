"""The streaming job: one Structured Streaming query over the Kafka topic.

Kafka records -> parse and classify (Spark SQL, ``contracts.parsing``) -> ``groupBy(kind, userId).agg(<shared raw
aggregates>)`` kept in Spark's state store (update mode, checkpointed) -> ``foreachBatch``, one Spark job: the
updated users' features as of the event-time clock (:mod:`streaming.health`), risk and SHAP drivers computed on the
executors (``mapInPandas``) and written to Redis idempotently; then the updated per-kind counts (hidden events,
dead letters by reason) into the stream-health hash (:mod:`streaming.health`), and the batch's dead letters
(:mod:`streaming.rereads`) and new users' names (:mod:`streaming.profiles`, in the background, beside the next
batch) read again from Kafka when there are any. Each record is read and parsed once by the query.
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from contracts.artifact import ArtifactError, ModelArtifact, latest_version, load_artifact
from contracts.features import raw_aggregate_columns
from contracts.parsing import classify_records
from contracts.redis_client import connect, with_retry
from contracts.redis_keys import HealthField, ModelInfo, RedisKeys
from contracts.settings import Settings
from streaming import kinds, offsets, profiles, rereads
from contracts.user_writer import UserWriter
from streaming.health import MAX_DEAD_LETTERS_PER_BATCH, HealthWriter
from streaming.monitoring import Monitor
from streaming.refresh import Refresher, crossed
from streaming.scoring import RESULT_SCHEMA, ScoreContext, score_partitions

log = logging.getLogger("streaming")

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
    return int(_fixed(checkpoint_dir, "epoch_ms", str(proposal)))


def checkpoint_id(checkpoint_dir: Path) -> str:
    """A name for this checkpoint's state, fixed on its first run: it tells a replayed batch from a new one."""
    return _fixed(checkpoint_dir, "id", uuid.uuid4().hex)


def _fixed(checkpoint_dir: Path, name: str, proposal: str) -> str:
    path = checkpoint_dir / name
    if path.exists():
        return path.read_text().strip()
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(proposal)
    return proposal


def kafka_source(spark: SparkSession, settings: Settings, **options: str) -> DataFrame:
    """The topic as the job reads it (read_committed, large fetches, ``maxOffsetsPerTrigger``); ``options``
    override any of the source's options (the benchmarks' A/B of the isolation level)."""
    s = settings
    reader = spark.readStream.format("kafka").options(**s.spark_kafka_options())
    # larger fetches than the consumer's defaults (1 MB per partition): a batch-mode read of 1M events took
    # 7.5 s with the defaults and 3.9-4.6 s with these on this machine
    reader = reader.options(**{"kafka.max.partition.fetch.bytes": str(16 << 20),
                               "kafka.fetch.max.bytes": str(64 << 20)})
    return (reader.option("subscribe", s.topic).option("startingOffsets", s.starting_offsets)
            .option("maxOffsetsPerTrigger", str(s.max_offsets_per_trigger))
            .option("failOnDataLoss", "false").options(**options).load())


def user_aggregates(source: DataFrame, epoch_ms: int) -> DataFrame:
    """Parse and validate every record once, then the per-(kind, user) raw aggregates kept in Spark's state.

    The per-event work of the job, all in the JVM; the benchmarks' limit job runs exactly this with no scoring.
    """
    grouped = kinds.grouping(classify_records(source))
    return grouped.groupBy(kinds.KIND, "userId").agg(*raw_aggregate_columns(epoch_ms), kinds.position_column())


class StreamingJob:
    def __init__(self, spark: SparkSession, options: JobOptions):
        self.spark = spark
        self.opts = options
        self.settings = options.settings
        self.keys = RedisKeys(self.settings.redis_prefix)
        self.redis = connect(self.settings.redis_url, **self.settings.redis_kwargs())
        self.health = HealthWriter(self.redis, self.keys)
        self.artifact: ModelArtifact = self._load_model()
        self.epoch_ms = epoch_for(options.checkpoint_dir, self.artifact.epoch_ms)
        self.checkpoint_id = checkpoint_id(options.checkpoint_dir)
        self.query: StreamingQuery | None = None
        s = self.settings
        self.monitor = Monitor(self.redis, self.keys, s.cohorts_kept, s.monitor_auroc_drop, s.drift_psi_threshold,
                               s.alert_stream_maxlen)
        self.profiles = profiles.ProfileFetcher(self.redis, self.keys, s.librdkafka_consumer_config(), s.topic)
        self._refresher: Refresher | None = None
        self._refresh_as_of = int(self.redis.hget(self.keys.health, HealthField.REFRESH_AS_OF_MS) or -1)

    # ---- model ---------------------------------------------------------------------------------------
    def _load_model(self) -> ModelArtifact:
        artifact = load_artifact(self.opts.model_dir)
        self._publish_model(artifact)
        self._warn_without_reference(artifact)
        return artifact

    def _warn_without_reference(self, artifact: ModelArtifact) -> None:
        if self.settings.refresh_hours > 0 and getattr(artifact, "reference", None) is None:
            log.warning("model %s has no drift reference (reference.json): drift monitoring is off; retrain to "
                        "switch it on", artifact.version)

    def _publish_model(self, a: ModelArtifact) -> None:
        info = ModelInfo(version=a.version, threshold=float(a.threshold), metrics=a.metrics,
                         features=list(a.feature_names), global_importance=a.global_importance,
                         artifact_dir=str(Path(a.path).resolve()), horizon_days=str(a.horizon_days),
                         loaded_at=int(time.time() * 1000))
        with_retry(lambda: self.redis.hset(self.keys.model, mapping=info.to_hash()))

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
            self._warn_without_reference(artifact)
            self._refresher = None
            log.info("model %s loaded", version)

    # ---- the query ---------------------------------------------------------------------------------------
    def _trigger(self) -> dict:
        if self.opts.available_now:
            return {"availableNow": True}
        return {"processingTime": f"{self.settings.trigger_seconds} seconds"}

    def start(self) -> StreamingQuery:
        waiting = self.profiles.resume()
        if waiting:
            log.info("fetching the names of %d users a previous run left unnamed", waiting)
        users = user_aggregates(kafka_source(self.spark, self.settings), self.epoch_ms)
        self.query = (users.writeStream.queryName("scores").outputMode("update").foreachBatch(self._batch)
                      .option("checkpointLocation", str(self._checkpoint)).trigger(**self._trigger()).start())
        return self.query

    @property
    def _checkpoint(self) -> Path:
        return self.opts.checkpoint_dir / "scores"

    # ---- per micro-batch -----------------------------------------------------------------------------
    def _batch(self, batch: DataFrame, batch_id: int) -> None:
        """One Spark job per batch: the stateful aggregation's output goes straight into the scoring tasks.

        Each scoring task also returns its partition's counts per kind and latest event time, so the batch needs no
        job of its own for those: a summary job before scoring (a cache, a shuffle, a second job) made a small batch
        ~100 ms slower and the latency p95 ~17% higher (README, Benchmarks).
        """
        started = time.monotonic()
        result = self._score(batch, batch_id)
        self._refresh(result["before"], result["clock"], result["low"])
        laps = [time.monotonic()]  # where a batch's time goes, for the log: the job and refresh, the rest
        unnamed = result.pop("unnamed")
        events_in = self.health.record_counts(result["kinds"])
        if any(kinds.is_invalid(k) for k in result["kinds"]):
            self._dead_letters(batch_id)
        if unnamed:
            waited = self.profiles.submit(unnamed)
            log.debug("batch %d: %d unnamed users to name in the background (%d ms waiting for the previous ones)",
                      batch_id, len(unnamed), waited)
        laps.append(time.monotonic())
        elapsed_ms = int((time.monotonic() - started) * 1000)
        self.health.record_batch(batch_id, elapsed_ms, result["scored"], result["written"])
        job_ms, rest_ms = (int((b - a) * 1000) for a, b in zip([started] + laps, laps))
        log.info("batch %d: %d users scored, %d written, %d alerts, clock %s, %d events in, %d ms (aggregate and "
                 "score %d, counts/dead letters/names %d)", batch_id, result["scored"], result["written"],
                 result["alerts"], result["clock"], events_in, elapsed_ms, job_ms, rest_ms)

    def _score(self, batch: DataFrame, batch_id: int) -> dict:
        """Score the batch's updated users on the executors; what the tasks did, summed on the driver.

        Every partition scores its users as of its own clock: the clock before the batch, moved to the latest
        event time among the partition's users (see :func:`streaming.scoring.score_partitions`); the stream's clock
        then moves to the latest of them. A partition does not wait for the others' events, as with Kafka's own
        partitions: the difference is a fraction of one batch, and each user's hash records its ``as_of``.
        """
        self.maybe_reload_model()
        tag = f"{self.checkpoint_id}:{batch_id}"
        before = self.health.clock_before(tag)
        s = self.settings
        ctx = ScoreContext(
            model_dir=str(self.opts.model_dir), model_version=self.artifact.version, clock_ms=before,
            epoch_ms=self.epoch_ms, redis_url=s.redis_url, redis_kwargs=tuple(sorted(s.redis_kwargs().items())),
            redis_prefix=s.redis_prefix, hysteresis=s.alert_hysteresis, alert_maxlen=s.alert_stream_maxlen,
            top_drivers=s.top_drivers)
        rows = batch.mapInPandas(score_partitions(ctx), RESULT_SCHEMA).collect()
        counts: dict[str, int] = {}
        for r in rows:
            for kind, n in (r["kinds"] or {}).items():
                counts[kind] = counts.get(kind, 0) + int(n)
        latest = max((r["max_ts"] for r in rows if r["max_ts"] is not None), default=None)
        clock = before if latest is None else self.health.advance_clock(latest)
        per_partition: dict[int, int] = {}
        for r in rows:
            for partition, ts in (r["partition_ts"] or {}).items():
                per_partition[partition] = max(ts, per_partition.get(partition, ts))
        low = self.health.advance_partition_clocks(per_partition)
        return {"before": before, "low": low, "scored": sum(r["scored"] for r in rows), "written": sum(r["written"] for r in rows),
                "alerts": sum(r["alerts"] for r in rows), "kinds": counts, "clock": clock,
                "unnamed": [(u["userId"], u["position"]) for r in rows for u in r["unnamed"]]}

    def _refresh(self, before: int, clock: int, read_up_to: int) -> None:
        """At a refresh boundary: every active user rescored as of the clock, the cohort kept, drift, labels due.

        Cohorts are labelled once ``read_up_to`` (the smallest Kafka partition clock: every partition has been
        read up to it) passes the end of their window. The score age is the clock minus the last refresh's as_of: a refresh scores every active user, and users
        scored since are scored at or after it.
        """
        s = self.settings
        if s.refresh_hours <= 0 or clock is None or clock < 0:
            return
        if crossed(before, clock, s.refresh_hours):
            started = time.monotonic()
            refreshed = self._get_refresher().refresh(clock, self.epoch_ms, self.artifact)
            if refreshed is not None:
                self.monitor.keep_cohort(refreshed)
                self.monitor.drift(refreshed, self.artifact)
                self._refresh_as_of = clock
                self.monitor.resolve(read_up_to, self.artifact)
                elapsed = int((time.monotonic() - started) * 1000)
                self.health.record_refresh(clock, len(refreshed.user_ids), refreshed.shap_users, elapsed)
                log.info("refresh as of %s: %d active users, %d with new SHAP, %d ms", clock,
                         len(refreshed.user_ids), refreshed.shap_users, elapsed)
        if self._refresh_as_of >= 0:
            self.health.record_score_age(clock - self._refresh_as_of)

    def _get_refresher(self) -> Refresher:
        if self._refresher is None:
            s = self.settings
            writer = UserWriter(self.redis, self.keys, self.artifact.threshold, s.alert_hysteresis,
                                s.alert_stream_maxlen)
            self._refresher = Refresher(self.redis, self.keys, writer, s.refresh_shap_min_move, s.top_drivers)
        return self._refresher

    def _dead_letters(self, batch_id: int) -> None:
        """The batch's invalid records, read again from Kafka over the batch's offsets, to the dead-letter sink."""
        start, end = offsets.batch_offsets(self._checkpoint, batch_id)
        options = self.settings.spark_kafka_options()
        invalid = rereads.dead_letters(rereads.read_batch(self.spark, options, start, end))
        dead: list = []
        if self.opts.dead_letter_sink == "kafka":
            rereads.write_dead_letters_to_kafka(invalid, self.settings.spark_kafka_options(sink=True),
                                                self.settings.dead_letter_topic)
        else:
            dead = [(r["value"], r["reason"], r["partition"], r["offset"])
                    for r in invalid.limit(MAX_DEAD_LETTERS_PER_BATCH).collect()]
        self.health.record_dead_letters(batch_id, dead, self.settings.alert_stream_maxlen)

    # ---- health --------------------------------------------------------------------------------------
    def publish_progress(self) -> None:
        """Stream health from the query's last progress: events/s, lag behind Kafka, trigger duration."""
        p = self.query.lastProgress if self.query is not None else None
        if not p:
            return
        self.health.record_progress(events_per_s=float(p.get("processedRowsPerSecond") or 0.0),
                                    input_per_s=float(p.get("inputRowsPerSecond") or 0.0), lag=offsets.lag(p),
                                    trigger_ms=int((p.get("durationMs") or {}).get("triggerExecution", 0)))
        log.debug("batch %s progress: %d rows, durations %s", p.get("batchId"), p.get("numInputRows") or 0,
                  json.dumps(p.get("durationMs") or {}, sort_keys=True))

    def mark_started(self) -> None:
        """Record when the query started (the benchmark measures from here, excluding Spark's start-up)."""
        self.health.mark_started()

    def stop(self) -> None:
        if self.query is not None:
            try:
                self.query.stop()
            except Exception:  # stopping is best effort on shutdown
                log.debug("query stop failed", exc_info=True)
        try:
            self.profiles.close()
        except Exception as exc:  # the users stay recorded in Redis: the next start names them
            log.error("names not fetched (the next start fetches them): %s", exc)
