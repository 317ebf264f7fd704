"""One typed settings object for every service (12-factor).

Each field can be overridden by an environment variable ``SPARKIFY_<FIELD NAME IN CAPS>``; the defaults
run the whole stack on one machine (``make demo``). Secrets (passwords) are only ever read from the
environment or from a file named by ``SPARKIFY_<NAME>_FILE`` (Docker secrets), never from code.
"""
from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

ENV_PREFIX = "SPARKIFY_"


class SettingsError(ValueError):
    """A setting has a value of the wrong type; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    # Kafka
    kafka_bootstrap: str = "127.0.0.1:9092"
    topic: str = "sparkify-events"
    dead_letter_topic: str = "sparkify-dead-letters"
    topic_partitions: int = 2
    kafka_security_protocol: str = "PLAINTEXT"  # PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL
    kafka_sasl_mechanism: str = ""  # PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = field(default="", repr=False)
    kafka_ssl_cafile: str = ""
    # Redis
    redis_url: str = "redis://127.0.0.1:6379/0"  # rediss:// for TLS
    redis_username: str = ""
    redis_password: str = field(default="", repr=False)
    redis_tls_cafile: str = ""
    redis_prefix: str = "sparkify"
    # Files
    data_dir: Path = Path("data")
    model_dir: Path = Path("models")
    checkpoint_dir: Path = Path("checkpoints")
    # Streaming
    spark_master: str = "local[2]"
    starting_offsets: str = "earliest"
    max_offsets_per_trigger: int = 500_000
    trigger_seconds: float = 1.0
    shuffle_partitions: int = 2
    checkpoint_file_manager: str = "filesystem"
    alert_hysteresis: float = 0.05
    alert_stream_maxlen: int = 10_000
    top_drivers: int = 3
    refresh_hours: float = 24.0  # rescore every active user at each event-time boundary (00:00 UTC); 0 = off
    refresh_shap_min_move: float = 0.01
    monitor_auroc_drop: float = 0.05
    drift_psi_threshold: float = 0.2
    cohorts_kept: int = 60
    # Dashboard
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 8501
    dashboard_refresh_seconds: float = 2.0
    # Demo and replay (make demo, docker compose up)
    replay_speed: float = 8640.0  # event time runs this much faster than wall time: 60 days in ~10 minutes
    demo_users: int = 1000
    demo_days: int = 60
    demo_seed: int = 7
    # Local services (make services-up, make demo, tests)
    local_kafka_port: int = 9092
    local_redis_port: int = 6379
    local_state_dir: Path = Path(".local")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> "Settings":
        """Defaults, then ``SPARKIFY_*`` variables (or ``SPARKIFY_*_FILE``), then ``overrides``."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            var = ENV_PREFIX + f.name.upper()
            raw = env.get(var)
            if raw is None and env.get(var + "_FILE"):
                raw = Path(env[var + "_FILE"]).read_text().strip()
            if raw is not None:
                values[f.name] = _coerce(f, raw, var)
        values.update(overrides)
        return cls(**values)

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)

    def kafka_python_config(self) -> dict[str, Any]:
        """Security settings for kafka-python clients."""
        cfg: dict[str, Any] = {"bootstrap_servers": self.kafka_bootstrap.split(",")}
        if self.kafka_security_protocol != "PLAINTEXT":
            cfg["security_protocol"] = self.kafka_security_protocol
        if self.kafka_sasl_mechanism:
            cfg.update(sasl_mechanism=self.kafka_sasl_mechanism, sasl_plain_username=self.kafka_sasl_username,
                       sasl_plain_password=self.kafka_sasl_password)
        if self.kafka_ssl_cafile:
            cfg["ssl_cafile"] = self.kafka_ssl_cafile
        return cfg

    def librdkafka_config(self) -> dict[str, Any]:
        """Security settings for confluent-kafka (librdkafka) clients."""
        cfg: dict[str, Any] = {"bootstrap.servers": self.kafka_bootstrap,
                               "security.protocol": self.kafka_security_protocol}
        if self.kafka_sasl_mechanism:
            cfg.update({"sasl.mechanism": self.kafka_sasl_mechanism, "sasl.username": self.kafka_sasl_username,
                        "sasl.password": self.kafka_sasl_password})
        if self.kafka_ssl_cafile:
            cfg["ssl.ca.location"] = self.kafka_ssl_cafile
        return cfg

    def librdkafka_consumer_config(self) -> dict[str, Any]:
        """:meth:`librdkafka_config` for a consumer: reads committed records only (the replay writes in Kafka
        transactions; an aborted one must never be read). Not for producers, which have no isolation level."""
        return {**self.librdkafka_config(), "isolation.level": "read_committed"}

    def spark_streaming_conf(self) -> dict[str, str]:
        """Spark settings of the streaming job's session: the class that writes its offset and commit logs.

        Spark's default (``filecontext``) goes through Hadoop's ``FileContext``, which on a local disk without the
        native Hadoop library forks a ``readlink`` or ``chmod`` per log file; ``filesystem`` writes the same files
        with ``FileSystem`` calls and an atomic rename on a local disk and on HDFS, and no forks. Neither gives an
        atomic rename on an object store (S3): keep checkpoints on a file system there.
        """
        classes = {"filesystem": "FileSystemBasedCheckpointFileManager",
                   "filecontext": "FileContextBasedCheckpointFileManager"}
        if self.checkpoint_file_manager not in classes:
            raise SettingsError(f"{ENV_PREFIX}CHECKPOINT_FILE_MANAGER must be one of {', '.join(classes)}, "
                                f"not {self.checkpoint_file_manager!r}")
        package = "org.apache.spark.sql.execution.streaming.checkpointing"
        return {"spark.sql.streaming.checkpointFileManagerClass":
                f"{package}.{classes[self.checkpoint_file_manager]}"}

    def spark_kafka_options(self, sink: bool = False) -> dict[str, str]:
        """Options for Spark's Kafka source and sink (``kafka.``-prefixed client settings).

        The source reads ``read_committed`` (the replay writes in Kafka transactions: records of an aborted one
        must never be counted, those of an open one wait for its commit). ``sink=True`` leaves that consumer
        setting out (a Kafka producer ignores it, with an INFO line).
        """
        opts = {"kafka.bootstrap.servers": self.kafka_bootstrap,
                "kafka.security.protocol": self.kafka_security_protocol}
        if not sink:
            opts["kafka.isolation.level"] = "read_committed"
        if self.kafka_sasl_mechanism:
            module = ("org.apache.kafka.common.security.plain.PlainLoginModule"
                      if self.kafka_sasl_mechanism == "PLAIN"
                      else "org.apache.kafka.common.security.scram.ScramLoginModule")
            opts["kafka.sasl.mechanism"] = self.kafka_sasl_mechanism
            opts["kafka.sasl.jaas.config"] = (
                f'{module} required username="{self.kafka_sasl_username}" password="{self.kafka_sasl_password}";')
        if self.kafka_ssl_cafile:
            opts["kafka.ssl.truststore.type"] = "PEM"
            opts["kafka.ssl.truststore.location"] = self.kafka_ssl_cafile
        return opts

    def redis_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``redis.Redis.from_url``."""
        kw: dict[str, Any] = {"decode_responses": True}
        if self.redis_username:
            kw["username"] = self.redis_username
        if self.redis_password:
            kw["password"] = self.redis_password
        if self.redis_tls_cafile:
            kw["ssl_ca_certs"] = self.redis_tls_cafile
        return kw


def _coerce(f: dataclasses.Field, raw: str, var: str) -> Any:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "Path":
            return Path(raw)
        return raw
    except ValueError:
        raise SettingsError(f"{var}={raw!r} is not a valid {kind}") from None


#: What each setting does (docs/configuration.md's table is made from this: `python -m devstack settings-table`).
SETTING_DOCS: dict[str, str] = {
    "kafka_bootstrap": "Kafka bootstrap servers",
    "topic": "topic of raw events",
    "dead_letter_topic": "topic for invalid records (replay --dead-letter-topic, streaming --dead-letter-sink kafka)",
    "topic_partitions": "partitions of the events topic when the replay creates it",
    "kafka_security_protocol": "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (producer and Spark alike)",
    "kafka_sasl_mechanism": "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
    "kafka_sasl_username": "SASL user",
    "kafka_sasl_password": "SASL password (secret: environment or SPARKIFY_KAFKA_SASL_PASSWORD_FILE)",
    "kafka_ssl_cafile": "CA certificate (PEM) to verify the brokers",
    "redis_url": "Redis URL; rediss:// for TLS",
    "redis_username": "Redis ACL user",
    "redis_password": "Redis password (secret: environment or SPARKIFY_REDIS_PASSWORD_FILE)",
    "redis_tls_cafile": "CA certificate (PEM) to verify Redis over TLS",
    "redis_prefix": "prefix of every Redis key",
    "data_dir": "folder of event logs",
    "model_dir": "folder of model artifacts (`latest` is used)",
    "checkpoint_dir": "Spark checkpoints and state",
    "spark_master": "Spark master of the streaming job",
    "starting_offsets": "where a new streaming job starts reading: earliest or latest",
    "max_offsets_per_trigger": "most Kafka records per micro-batch",
    "trigger_seconds": "micro-batch interval",
    "shuffle_partitions": "Spark state partitions (fixed once a checkpoint exists)",
    "checkpoint_file_manager": "how the streaming job writes its offset and commit logs: filesystem (Hadoop "
                               "FileSystem, no forked chmod/readlink per file) or filecontext (Spark's default); both "
                               "rename atomically on a local disk and on HDFS, neither on an object store",
    "alert_hysteresis": "an alert clears only when risk falls this far below the threshold",
    "alert_stream_maxlen": "length cap of the alert and dead-letter streams",
    "top_drivers": "SHAP drivers raising risk kept per user",
    "refresh_hours": "event-time interval (hours, boundaries from 00:00 UTC) at which every active user is rescored "
                     "as of the clock and a cohort kept for outcome tracking and drift; 0 switches refresh and "
                     "monitoring off",
    "refresh_shap_min_move": "a refresh recomputes SHAP drivers only for users whose risk moved at least this much "
                             "(the others keep theirs)",
    "monitor_auroc_drop": "alert when a resolved cohort's realized AUROC is this far below the offline test AUROC",
    "drift_psi_threshold": "alert when a feature's or the prediction's PSI against the training reference exceeds it",
    "cohorts_kept": "scored cohorts kept in Redis (the oldest are dropped; realized metrics pool the kept ones)",
    "dashboard_host": "address the dashboard binds to",
    "dashboard_port": "port of the dashboard",
    "dashboard_refresh_seconds": "dashboard refresh interval",
    "replay_speed": "demo/compose replay speed (event time / wall time)",
    "demo_users": "users in the simulated demo log",
    "demo_days": "days in the simulated demo log",
    "demo_seed": "seed of the simulated demo log",
    "local_kafka_port": "port of the project's own Kafka (make services-up, make demo)",
    "local_redis_port": "port of the project's own Redis",
    "local_state_dir": "data and logs of the project's own Kafka and Redis",
}

#: Variables read outside the Settings object, with what they do.
EXTRA_ENV_VARS: dict[str, str] = {
    "SPARKIFY_SPARK_JARS_DIR": "folder of Spark's Kafka connector jars (default: the project's .jars/spark)",
    "SPARKIFY_SPARK_DRIVER_MEMORY": "Spark driver memory (default 4g)",
    "SPARKIFY_TRAIN_THREADS": "OpenMP threads of scikit-learn during training (default 1: more spin against Spark's "
                              "JVM on a small machine)",
    "SPARKIFY_DASHBOARD_PUBLISH": "docker compose only: host address:port the dashboard is published on "
                                  "(default 127.0.0.1:8501)",
}


#: Variables of other tools that the project reads too.
OTHER_ENV_VARS: dict[str, str] = {
    "PYSPARK_PYTHON": "Python of Spark's workers (default: the interpreter running the service; the Makefile sets "
                      "the project's .venv)",
    "PYSPARK_DRIVER_PYTHON": "Python of Spark's driver (as PYSPARK_PYTHON)",
    "JAVA_HOME": "the JDK that runs the local Kafka broker and the benchmarks' Java tools (default: `java` on PATH)",
    "MLFLOW_TRACKING_URI": "training logs its metrics and artifact to MLflow when set and mlflow is installed",
}


def settings_or_report() -> "Settings | None":
    """The settings from the environment, or ``None`` after printing the one-line error (a command then exits 2)."""
    try:
        return Settings.from_env()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def documented_env_vars() -> list[str]:
    """Every environment variable the project reads, for docs and the compose-file check."""
    return [ENV_PREFIX + f.name.upper() for f in fields(Settings)] + list(EXTRA_ENV_VARS) + list(OTHER_ENV_VARS)
