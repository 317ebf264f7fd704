"""Settings: defaults run locally, environment variables override them, bad values give one clear line."""
from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from contracts.settings import SETTING_DOCS, Settings, SettingsError


def test_defaults_are_local():
    s = Settings.from_env({})
    assert s.kafka_bootstrap.startswith("127.0.0.1") and s.redis_url.startswith("redis://127.0.0.1")
    assert s.dashboard_host == "127.0.0.1"


def test_environment_overrides_with_types():
    s = Settings.from_env({"SPARKIFY_TOPIC": "x", "SPARKIFY_TOPIC_PARTITIONS": "8", "SPARKIFY_TRIGGER_SECONDS": "0.5",
                           "SPARKIFY_MODEL_DIR": "/m"})
    assert (s.topic, s.topic_partitions, s.trigger_seconds, s.model_dir) == ("x", 8, 0.5, Path("/m"))


def test_secret_from_file(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    s = Settings.from_env({"SPARKIFY_REDIS_PASSWORD_FILE": str(secret)})
    assert s.redis_password == "s3cret" and s.redis_kwargs()["password"] == "s3cret"
    assert "s3cret" not in repr(s)


def test_bad_value_names_the_variable():
    with pytest.raises(SettingsError, match="SPARKIFY_TOPIC_PARTITIONS='many' is not a valid int"):
        Settings.from_env({"SPARKIFY_TOPIC_PARTITIONS": "many"})


def test_security_settings_reach_every_client():
    s = Settings.from_env({"SPARKIFY_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "SPARKIFY_KAFKA_SASL_MECHANISM": "PLAIN",
                           "SPARKIFY_KAFKA_SASL_USERNAME": "u", "SPARKIFY_KAFKA_SASL_PASSWORD": "p",
                           "SPARKIFY_KAFKA_SSL_CAFILE": "/ca.pem"})
    assert s.librdkafka_config()["sasl.password"] == "p" and s.librdkafka_config()["ssl.ca.location"] == "/ca.pem"
    assert s.kafka_python_config()["security_protocol"] == "SASL_SSL"
    spark = s.spark_kafka_options()
    assert spark["kafka.security.protocol"] == "SASL_SSL" and 'username="u"' in spark["kafka.sasl.jaas.config"]


def test_consumers_read_committed_and_producers_get_no_isolation_level():
    """The replay writes in Kafka transactions: every reader must skip aborted ones; a producer has no such setting."""
    s = Settings.from_env({})
    assert s.spark_kafka_options()["kafka.isolation.level"] == "read_committed"
    assert "kafka.isolation.level" not in s.spark_kafka_options(sink=True)
    assert s.librdkafka_consumer_config()["isolation.level"] == "read_committed"
    assert "isolation.level" not in s.librdkafka_config()  # the replay's producer is built from it
    from producer.kafka_out import producer_config

    assert "isolation.level" not in producer_config(s)


def test_every_setting_is_documented():
    assert {f.name for f in fields(Settings)} == set(SETTING_DOCS)


def test_the_streaming_job_writes_its_logs_through_the_chosen_checkpoint_file_manager():
    conf = Settings.from_env({}).spark_streaming_conf()
    assert conf["spark.sql.streaming.checkpointFileManagerClass"].endswith(".FileSystemBasedCheckpointFileManager")
    spark_default = Settings.from_env({"SPARKIFY_CHECKPOINT_FILE_MANAGER": "filecontext"}).spark_streaming_conf()
    assert spark_default["spark.sql.streaming.checkpointFileManagerClass"].endswith(
        ".FileContextBasedCheckpointFileManager")
    with pytest.raises(SettingsError, match="SPARKIFY_CHECKPOINT_FILE_MANAGER must be one of filesystem, filecontext"):
        Settings.from_env({"SPARKIFY_CHECKPOINT_FILE_MANAGER": "s3"}).spark_streaming_conf()
