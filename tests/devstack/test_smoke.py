"""Each part is real: a Kafka round trip, a Redis round trip, and Structured Streaming over Kafka."""
from __future__ import annotations

import time

import pytest

from devstack.services import KafkaBroker, RedisServer, ServiceError, port_in_use

pytestmark = pytest.mark.integration


def test_kafka_produce_and_consume(kafka_broker, topic):
    from kafka import KafkaConsumer, KafkaProducer

    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all")
    for i in range(10):
        producer.send(topic, key=b"u1", value=f"m{i}".encode())
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(topic, bootstrap_servers=kafka_broker.bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=10_000)
    got = [m.value.decode() for m in consumer]
    consumer.close()
    assert got == [f"m{i}" for i in range(10)]


def test_redis_write_and_read(redis_client):
    redis_client.hset("smoke", mapping={"a": "1", "b": "two"})
    assert redis_client.hgetall("smoke") == {"a": "1", "b": "two"}


def test_structured_streaming_reads_kafka(spark, kafka_broker, topic):
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all")
    for i in range(5):
        producer.send(topic, value=f'{{"n": {i}}}'.encode())
    producer.flush()
    producer.close()
    stream = (spark.readStream.format("kafka")
              .option("kafka.bootstrap.servers", kafka_broker.bootstrap)
              .option("subscribe", topic).option("startingOffsets", "earliest").load()
              .selectExpr("CAST(value AS STRING) AS v"))
    name = f"smoke_{topic.replace('-', '_')}"
    query = stream.writeStream.format("memory").queryName(name).trigger(availableNow=True).start()
    query.awaitTermination(120)
    rows = sorted(r.v for r in spark.sql(f"SELECT v FROM {name}").collect())
    assert rows == [f'{{"n": {i}}}' for i in range(5)]


def test_taken_port_gives_one_line_error(redis_server, tmp_path):
    assert port_in_use(redis_server.port)
    with pytest.raises(ServiceError, match=rf"port {redis_server.port} is taken"):
        RedisServer("redis", redis_server.port, tmp_path).start()


def test_missing_java_gives_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "nojava"))
    monkeypatch.setenv("PATH", str(tmp_path))
    broker = KafkaBroker("kafka", 1, tmp_path, controller_port=2)
    with pytest.raises(ServiceError, match="no `java` was found"):
        broker.start(timeout=1)
