"""The stream's event-time clock, kept in the health hash: the latest event time the job has scored.

Every partition of a micro-batch scores its users as of the clock before the batch, moved to the latest event time
among its own users (:func:`streaming.scoring.score_partitions`); after the batch the clock moves to the latest of
them, never back. A batch that runs again after a crash must start from the same clock-before as its first run,
although the clock may already include the batch's own events: so the clock-before is recorded with the batch's
tag and read back when the same tag comes again.
"""
from __future__ import annotations

from typing import Any

from contracts.redis_keys import RedisKeys
from streaming.redis_sink import with_retry

# KEYS: 1 health hash. ARGV: 1 the batch's tag. Returns the clock before this batch (-1: none yet).
_BEFORE_LUA = """
if redis.call('HGET', KEYS[1], 'clock_batch') == ARGV[1] then
  return redis.call('HGET', KEYS[1], 'clock_before_ms') or '-1'
end
local cur = redis.call('HGET', KEYS[1], 'clock_ms') or '-1'
redis.call('HSET', KEYS[1], 'clock_batch', ARGV[1], 'clock_before_ms', cur)
return cur
"""
# KEYS: 1 health hash. ARGV: 1 an event time. Returns the clock, moved to it unless that would move it back.
_ADVANCE_LUA = """
local cur = tonumber(redis.call('HGET', KEYS[1], 'clock_ms') or '-1')
local new = tonumber(ARGV[1])
if new > cur then redis.call('HSET', KEYS[1], 'clock_ms', ARGV[1]); return ARGV[1] end
return tostring(cur)
"""


def clock_before(client: Any, keys: RedisKeys, tag: str) -> int:
    """The clock before the batch ``tag`` (unique per checkpoint and batch id): recorded once, then read back."""
    script = client.register_script(_BEFORE_LUA)
    return int(with_retry(lambda: script(keys=[keys.health], args=[tag])))


def advance_clock(client: Any, keys: RedisKeys, event_time_ms: int) -> int:
    """Move the clock to ``event_time_ms`` if that is later; returns the clock."""
    script = client.register_script(_ADVANCE_LUA)
    return int(with_retry(lambda: script(keys=[keys.health], args=[event_time_ms])))
