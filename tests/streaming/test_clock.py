"""The stream's event-time clock against a real Redis: it never moves back, and a replayed batch starts where its
first run started."""
from __future__ import annotations

import pytest

from contracts.redis_keys import RedisKeys
from streaming.clock import advance_clock, clock_before

pytestmark = pytest.mark.integration
KEYS = RedisKeys("t")


def test_clock_only_moves_forward(redis_client):
    assert clock_before(redis_client, KEYS, "c:0") == -1  # no clock yet
    assert advance_clock(redis_client, KEYS, 1_000) == 1_000
    assert advance_clock(redis_client, KEYS, 900) == 1_000  # a late batch never moves it back
    assert int(redis_client.hget(KEYS.health, "clock_ms")) == 1_000


def test_a_replayed_batch_gets_the_clock_its_first_run_started_from(redis_client):
    advance_clock(redis_client, KEYS, 1_000)
    assert clock_before(redis_client, KEYS, "c:7") == 1_000
    advance_clock(redis_client, KEYS, 2_000)  # batch 7's first run moved the clock, then the job was killed
    assert clock_before(redis_client, KEYS, "c:7") == 1_000  # the re-run of batch 7 starts from the same clock
    assert clock_before(redis_client, KEYS, "c:8") == 2_000  # the next batch from the clock batch 7 left
    assert clock_before(redis_client, KEYS, "other:7") == 2_000  # another checkpoint's batch 7 is a new batch
