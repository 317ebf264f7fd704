"""One way to build a SparkSession for training, streaming and the tests.

Spark's Kafka connector is not in the pyspark wheel: `make setup` fetches it (at the pinned pyspark
version) into ``.jars/spark``, and this module puts those jars on the classpath.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def connector_jars() -> list[str]:
    """The Kafka connector jars, from ``SPARKIFY_SPARK_JARS_DIR`` or the project's ``.jars/spark``."""
    folder = Path(os.environ.get("SPARKIFY_SPARK_JARS_DIR") or ROOT / ".jars" / "spark")
    return sorted(str(p) for p in folder.glob("*.jar"))


def build_session(app_name: str, master: str | None = None, shuffle_partitions: int = 2,
                  extra_conf: dict[str, str] | None = None):
    """A SparkSession with the Kafka connector, UTC time and quiet logs.

    Python workers must import pandas and the project, so they run this interpreter.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    conf = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        "spark.default.parallelism": str(shuffle_partitions),
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.memory": os.environ.get("SPARKIFY_SPARK_DRIVER_MEMORY", "4g"),
        "spark.sql.streaming.stateStore.providerClass":
            "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
        # a commit writes the changed keys, not a RocksDB snapshot of every key (snapshots are taken in the
        # background every few batches); it can be switched on and off for an existing checkpoint
        "spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled": "true",
        "spark.python.worker.reuse": "true",
        "spark.executorEnv.PYSPARK_PYTHON": os.environ["PYSPARK_PYTHON"],
    }
    jars = connector_jars()
    if jars:
        conf["spark.jars"] = ",".join(jars)
    conf.update(extra_conf or {})
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
