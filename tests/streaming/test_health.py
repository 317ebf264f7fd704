"""The stream-health writes against a real Redis: the event-time clock never moves back and a replayed batch
starts where its first run started; counts never go down; a batch's dead letters are added once."""
from __future__ import annotations

import pytest

from contracts.redis_keys import DeadLetterEntry, RedisKeys, StreamHealth
from streaming.health import MAX_DEAD_LETTER_BYTES, HealthWriter

pytestmark = pytest.mark.integration
KEYS = RedisKeys("t")


@pytest.fixture
def health(redis_client) -> HealthWriter:
    return HealthWriter(redis_client, KEYS)


def test_clock_only_moves_forward(health, redis_client):
    assert health.clock_before("c:0") == -1  # no clock yet
    assert health.advance_clock(1_000) == 1_000
    assert health.advance_clock(900) == 1_000  # a late batch never moves it back
    assert int(redis_client.hget(KEYS.health, "clock_ms")) == 1_000


def test_a_replayed_batch_gets_the_clock_its_first_run_started_from(health):
    health.advance_clock(1_000)
    assert health.clock_before("c:7") == 1_000
    health.advance_clock(2_000)  # batch 7's first run moved the clock, then the job was killed
    assert health.clock_before("c:7") == 1_000  # the re-run of batch 7 starts from the same clock
    assert health.clock_before("c:8") == 2_000  # the next batch from the clock batch 7 left
    assert health.clock_before("other:7") == 2_000  # another checkpoint's batch 7 is a new batch


def test_counts_never_go_down_and_totals_add_up(health, redis_client):
    redis_client.hset(KEYS.health, "valid_events", 10)  # what the user writes counted
    assert health.record_counts({"hidden": 4, "invalid:not_json": 2}) == 16
    assert health.record_counts({"hidden": 3, "invalid:wrong_type": 1}) == 17  # a replayed, older hidden count
    h = StreamHealth.from_hash(redis_client.hgetall(KEYS.health))
    assert (h.events_in, h.valid_events, h.hidden_events, h.dead_letters) == (17, 10, 4, 3)
    assert h.dead_letters_by_reason == {"not_json": 2, "wrong_type": 1}


def test_a_batch_of_dead_letters_is_added_once_and_truncated(health, redis_client):
    big = b"x" * (MAX_DEAD_LETTER_BYTES + 10)
    assert health.record_dead_letters(3, [(b"not json", "not_json", 0, 7), (big, "too_long", 1, 9)], 100)
    assert not health.record_dead_letters(3, [(b"again", "not_json", 0, 8)], 100)  # batch 3 replayed
    assert not health.record_dead_letters(2, [(b"older", "not_json", 0, 1)], 100)
    entries = [DeadLetterEntry.from_hash(f) for _, f in redis_client.xrange(KEYS.dead_letters)]
    assert entries == [DeadLetterEntry("not json", "not_json", 0, 7),
                       DeadLetterEntry("x" * MAX_DEAD_LETTER_BYTES, "too_long", 1, 9)]
    assert StreamHealth.from_hash(redis_client.hgetall(KEYS.health)).dead_letter_batch == 3


def test_batch_summary_progress_and_start(health, redis_client):
    health.mark_started()
    health.record_batch(5, 812, users=40, written=38)
    health.record_batch(6, 90, users=2, written=2)
    health.record_progress(events_per_s=1234.56, input_per_s=99.0, lag=17, trigger_ms=900)
    raw = redis_client.hgetall(KEYS.health)
    h = StreamHealth.from_hash(raw)
    assert (h.batch_id, h.batch_ms, h.last_batch_users, h.users_scored, h.lag, h.trigger_ms) == (6, 90, 2, 40, 17, 900)
    assert raw["events_per_s"] == "1234.6" and h.query_started_ms and h.last_batch_wall_ms
