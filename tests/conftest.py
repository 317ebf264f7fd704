"""Session-wide real services: one Kafka broker, one Redis server and one SparkSession per test run.

They start lazily (only when a test asks for them) on free loopback ports, in a temporary folder, and
stop at the end of the session.
"""
from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from devstack.services import KafkaBroker, RedisServer, free_port  # noqa: E402


@pytest.fixture(scope="session")
def services_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def kafka_broker(services_dir):
    broker = KafkaBroker("kafka", free_port(), services_dir / "kafka").start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def redis_server(services_dir):
    server = RedisServer("redis", free_port(), services_dir / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server):
    """A client on a clean database."""
    client = redis_server.client()
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def topic(kafka_broker) -> str:
    """A fresh topic name per test (auto-created or created by the code under test)."""
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def spark():
    from contracts.spark_session import build_session

    session = build_session("sparkify-tests", master="local[2]", shuffle_partitions=2,
                            extra_conf={"spark.driver.memory": "3g"})
    yield session
    session.stop()
