"""Local Kafka and Redis for one machine: the same code serves the tests, `make services-up` and `make demo`."""
