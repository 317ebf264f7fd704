"""Reading a micro-batch again from Kafka, over exactly its offsets, for what the aggregation cannot hold:
the raw values of its dead letters (to the Redis stream or to a Kafka dead-letter topic)."""
from __future__ import annotations

import json

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from contracts.parsing import classify_records
from streaming.offsets import Offsets


def read_batch(spark: SparkSession, kafka_options: dict[str, str], start: Offsets, end: Offsets) -> DataFrame:
    """The batch's Kafka records again (a batch read of exactly its offsets, see
    :func:`streaming.offsets.batch_offsets`); a partition new since the batch before starts at its beginning."""
    starting = {t: {p: start.get(t, {}).get(p, -2) for p in parts} for t, parts in end.items()}
    assign = {t: [int(p) for p in parts] for t, parts in end.items()}
    return (spark.read.format("kafka").options(**kafka_options).option("assign", json.dumps(assign))
            .option("startingOffsets", json.dumps(starting)).option("endingOffsets", json.dumps(end))
            .option("failOnDataLoss", "false").load())


def dead_letters(records: DataFrame) -> DataFrame:
    """Invalid records of a batch read again: key, raw value, reason, partition, offset."""
    return (classify_records(records).where(F.col("verdict") == "invalid")
            .select("key", "value", "reason", "partition", "offset"))


def write_dead_letters_to_kafka(invalid: DataFrame, options: dict[str, str], topic: str) -> None:
    """Whole raw values to a Kafka topic, the reason in a record header."""
    (invalid.select(
        F.col("key"), F.col("value"),
        F.array(F.struct(F.lit("reason").alias("key"), F.col("reason").cast("binary").alias("value"))).alias("headers"))
     .write.format("kafka").options(**options).option("topic", topic).option("includeHeaders", "true").save())
