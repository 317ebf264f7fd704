"""Streaming service: Kafka -> Spark Structured Streaming -> per-user features -> risk + SHAP -> Redis."""
