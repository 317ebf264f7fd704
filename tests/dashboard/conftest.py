"""Fixtures for the dashboard tests: a seeded Redis database of their own.

The big seed (22,000 users, a few seconds) is written once per session into database 3 of the session's
Redis server, so other tests flushing database 0 cannot touch it and no test here has to rewrite it.
"""
from __future__ import annotations

import pytest
import redis

from contracts.redis_keys import RedisKeys
from dashboard.seed import SeedResult, seed

BIG_USERS = 22_000
BIG_DB = 3


@pytest.fixture(scope="session")
def big_keys() -> RedisKeys:
    return RedisKeys("bigseed")


@pytest.fixture(scope="session")
def big_client(redis_server) -> redis.Redis:
    client = redis.Redis(host="127.0.0.1", port=redis_server.port, db=BIG_DB, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def big_seed(big_client, big_keys) -> SeedResult:
    return seed(big_client, big_keys, BIG_USERS, seed=11, threshold=0.45)
