"""Idempotent writes of scored users to Redis, in pipelines, with retry and back-off.

Each user is written by one Lua script call so that the hash, the ranking, the churned set, the alert stream
and the global importance move together. The script refuses any write that is not newer than what Redis
holds, ordered by (as_of, n_events): a replayed micro-batch (after a crash, Spark re-runs the last batch)
therefore changes nothing and never emits an alert twice, and a score never moves backwards in event time.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Iterable, NamedTuple, Sequence

import redis

from contracts.redis_keys import RedisKeys

# KEYS: 1 user hash, 2 ranking, 3 churned, 4 alerts, 5 importance, 6 stream health
# ARGV: 1 userId, 2 as_of, 3 n_events, 4 risk, 5 threshold, 6 hysteresis, 7 churn_ts or "",
#       8 alert stream maxlen, 9 shap JSON (stored as field "shap"), 10 level, 11.. hash field/value pairs
# Returns {code, new events counted, has display name}: code 0 = refused (not newer), 1 = written, 2 = written
# with an alert. The user's events not counted before are added to the health hash's valid_events here, in the
# same script, so the count is exact under batch replay too.
WRITE_USER_LUA = r"""
local old = redis.call('HMGET', KEYS[1], 'as_of', 'n_events', 'alerting', 'shap', 'churned', 'name')
local new_asof = tonumber(ARGV[2])
local new_n = tonumber(ARGV[3])
local named = old[6] and 1 or 0
local old_n = 0
if old[1] then
  local oa = tonumber(old[1])
  old_n = tonumber(old[2])
  if new_asof < oa or (new_asof == oa and new_n <= old_n) then return {0, 0, named} end
end
local counted = math.max(0, new_n - old_n)
redis.call('HINCRBY', KEYS[6], 'valid_events', counted)
local was_active = old[1] and old[5] ~= '1'
local risk = tonumber(ARGV[4])
local thr = tonumber(ARGV[5])
local hyst = tonumber(ARGV[6])
local alerting = old[3] == '1'
local churned = ARGV[7] ~= ''
if was_active and old[4] then
  for f, v in pairs(cjson.decode(old[4])) do redis.call('HINCRBYFLOAT', KEYS[5], f, -math.abs(v)) end
  redis.call('HINCRBY', KEYS[5], '__n__', -1)
end
local fields = {}
for i = 11, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], 'shap', ARGV[9], unpack(fields))
local result = 1
if churned then
  redis.call('HSET', KEYS[1], 'churned', '1', 'churned_ts', ARGV[7], 'alerting', '0')
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZADD', KEYS[3], ARGV[7], ARGV[1])
  return {result, counted, named}
end
redis.call('ZADD', KEYS[2], risk, ARGV[1])
for f, v in pairs(cjson.decode(ARGV[9])) do redis.call('HINCRBYFLOAT', KEYS[5], f, math.abs(v)) end
redis.call('HINCRBY', KEYS[5], '__n__', 1)
local direction = nil
if (not alerting) and risk >= thr then direction = 'up'; alerting = true
elseif alerting and risk < thr - hyst then direction = 'down'; alerting = false end
redis.call('HSET', KEYS[1], 'alerting', alerting and '1' or '0', 'churned', '0')
if direction then
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[8], '*', 'user', ARGV[1], 'direction', direction,
             'risk', ARGV[4], 'threshold', ARGV[5], 'as_of', ARGV[2], 'level', ARGV[10])
  result = 2
end
return {result, counted, named}
"""


class Written(NamedTuple):
    """What one user's write did: ``code`` 0 (Redis already held this or newer), 1 (written) or 2 (written and
    an alert raised); ``new_events`` the user's events counted for the first time; ``named`` whether the user's
    hash already has its display name."""
    code: int
    new_events: int
    named: bool


@dataclass(frozen=True)
class UserWrite:
    user_id: str
    as_of: int
    n_events: int
    risk: float
    level: str
    churn_ts: int | None
    shap_json: str
    fields: dict[str, str]


def connect(url: str, **kwargs: Any) -> redis.Redis:
    """A client whose socket calls time out, so that a dead Redis is noticed and retried."""
    kwargs.setdefault("socket_timeout", 10)
    kwargs.setdefault("socket_connect_timeout", 5)
    kwargs.setdefault("health_check_interval", 30)
    return redis.Redis.from_url(url, **kwargs)


class UserWriter:
    """Writes scored users through the Lua script, in pipelined chunks, retrying while Redis is away."""

    def __init__(self, client: redis.Redis, keys: RedisKeys, threshold: float, hysteresis: float,
                 alert_maxlen: int, chunk: int = 500, retry_for_s: float = 600.0):
        self.client = client
        self.keys = keys
        self.threshold = threshold
        self.hysteresis = hysteresis
        self.alert_maxlen = alert_maxlen
        self.chunk = chunk
        self.retry_for_s = retry_for_s
        self._script = client.register_script(WRITE_USER_LUA)

    def write(self, users: Sequence[UserWrite]) -> list[Written]:
        """Write all users, in their order; one :class:`Written` per user."""
        results: list[Written] = []
        for start in range(0, len(users), self.chunk):
            results.extend(with_retry(lambda: self._write_chunk(users[start:start + self.chunk]), self.retry_for_s))
        return results

    def _write_chunk(self, users: Iterable[UserWrite]) -> list[Written]:
        k = self.keys
        pipe = self.client.pipeline(transaction=False)
        for u in users:
            argv: list[Any] = [u.user_id, u.as_of, u.n_events, repr(float(u.risk)), repr(float(self.threshold)),
                               repr(float(self.hysteresis)), "" if u.churn_ts is None else int(u.churn_ts),
                               self.alert_maxlen, u.shap_json, u.level]
            for name, value in u.fields.items():
                argv += [name, value]
            self._script(keys=[k.user(u.user_id), k.ranking, k.churned, k.alerts, k.importance, k.health],
                         args=argv, client=pipe)
        return [Written(int(code), int(counted), bool(int(named))) for code, counted, named in pipe.execute()]


def with_retry(fn, retry_for_s: float = 600.0, first_delay_s: float = 0.2, max_delay_s: float = 10.0):
    """Call ``fn`` until it succeeds, backing off exponentially on connection errors, for at most ``retry_for_s``."""
    deadline = time.monotonic() + retry_for_s
    delay = first_delay_s
    while True:
        try:
            return fn()
        except redis.AuthenticationError:  # a ConnectionError subclass, but waiting cannot fix a wrong password
            raise
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
            if time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, max_delay_s)
