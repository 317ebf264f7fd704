"""Idempotent writes of scored users to Redis, in pipelines, with retry and back-off.

Users are written by a Lua script, a chunk of them per call, so that each user's hash, the ranking, the churned
set, the alert stream and the global importance move together. The script refuses any user write that is not
newer than what Redis holds, ordered by (as_of, n_events): a replayed micro-batch (after a crash, Spark re-runs
the last batch) therefore changes nothing and never emits an alert twice, and a score never moves backwards in
event time.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Iterable, NamedTuple, Sequence

import redis

from contracts.redis_keys import RedisKeys

# One call writes a chunk of users. KEYS: 1 ranking, 2 churned, 3 alerts, 4 importance, 5 stream health,
# 6 cancelled users by their last risk before cancelling, 7 caught cancellations, then one user hash per user. ARGV: 1 threshold, 2 hysteresis, 3 alert stream maxlen, then per user: userId, as_of,
# n_events, risk, churn_ts or "", shap JSON (stored as field "shap"), level, the number of hash field/value pairs,
# the pairs. Returns per user {code, new events counted, has display name}: code 0 = refused (not newer),
# 1 = written, 2 = written with an alert. The user's events not counted before are added to the health hash's
# valid_events in the same script, so the count is exact under batch replay too. Global importance (the sum of
# |SHAP| per feature over active users) moves by the chunk's summed changes, one HINCRBYFLOAT per feature per
# chunk: per user, that was two per feature and most of the write's cost.
# For "did we see it coming?": an active write at or above the threshold records the event time it first did
# (first_high_ts); the write that records a cancellation keeps the last risk scored while active
# (risk_before_cancel; this write's own risk when it is the user's first), ranks the user by it in KEYS[6] and,
# when the user had been high before cancelling, adds it to KEYS[7] with the lead time (ms) as score. Both happen
# once per user (a refused replay changes nothing; a cancelled user's later writes skip them).
WRITE_USERS_LUA = r"""
local thr = tonumber(ARGV[1])
local hyst = tonumber(ARGV[2])
local delta, n_delta, counted_total, any_written = {}, 0, 0, false
local function add_abs(json, sign)
  for f, v in pairs(cjson.decode(json)) do delta[f] = (delta[f] or 0) + sign * math.abs(v) end
end
local out = {}
local a = 4
for u = 8, #KEYS do
  local key = KEYS[u]
  local uid, as_of, risk_s, churn_ts = ARGV[a], ARGV[a + 1], ARGV[a + 3], ARGV[a + 4]
  local shap, level = ARGV[a + 5], ARGV[a + 6]
  local new_asof, new_n, n_fields = tonumber(as_of), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 7])
  local first_field = a + 8
  a = first_field + 2 * n_fields
  local old = redis.call('HMGET', key, 'as_of', 'n_events', 'alerting', 'shap', 'churned', 'name', 'risk',
                          'first_high_ts')
  local named = old[6] and 1 or 0
  local old_n = 0
  local refused = false
  if old[1] then
    local oa = tonumber(old[1])
    old_n = tonumber(old[2])
    refused = new_asof < oa or (new_asof == oa and new_n <= old_n)
  end
  if refused then
    out[#out + 1] = {0, 0, named}
  else
    any_written = true
    local counted = math.max(0, new_n - old_n)
    counted_total = counted_total + counted
    if old[1] and old[5] ~= '1' and old[4] then
      add_abs(old[4], -1)
      n_delta = n_delta - 1
    end
    local fields = {}
    for i = first_field, a - 1 do fields[#fields + 1] = ARGV[i] end
    redis.call('HSET', key, 'shap', shap, unpack(fields))
    if churn_ts ~= '' then
      redis.call('HSET', key, 'churned', '1', 'churned_ts', churn_ts, 'alerting', '0')
      redis.call('ZREM', KEYS[1], uid)
      redis.call('ZADD', KEYS[2], churn_ts, uid)
      if old[5] ~= '1' then
        local before = (old[1] and old[7]) or risk_s
        redis.call('HSET', key, 'risk_before_cancel', before)
        redis.call('ZADD', KEYS[6], before, uid)
        if old[8] and tonumber(old[8]) <= tonumber(churn_ts) then
          redis.call('ZADD', KEYS[7], tonumber(churn_ts) - tonumber(old[8]), uid)
        end
      end
      out[#out + 1] = {1, counted, named}
    else
      local risk = tonumber(risk_s)
      redis.call('ZADD', KEYS[1], risk, uid)
      add_abs(shap, 1)
      n_delta = n_delta + 1
      local alerting = old[3] == '1'
      local direction = nil
      if (not alerting) and risk >= thr then direction = 'up'; alerting = true
      elseif alerting and risk < thr - hyst then direction = 'down'; alerting = false end
      redis.call('HSET', key, 'alerting', alerting and '1' or '0', 'churned', '0')
      if risk >= thr and not old[8] then redis.call('HSET', key, 'first_high_ts', as_of) end
      local code = 1
      if direction then
        redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'user', uid, 'direction', direction,
                   'risk', risk_s, 'threshold', ARGV[1], 'as_of', as_of, 'level', level)
        code = 2
      end
      out[#out + 1] = {code, counted, named}
    end
  end
end
if any_written then
  redis.call('HINCRBY', KEYS[5], 'valid_events', counted_total)
  for f, v in pairs(delta) do redis.call('HINCRBYFLOAT', KEYS[4], f, v) end
  redis.call('HINCRBY', KEYS[4], '__n__', n_delta)
end
return out
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
                 alert_maxlen: int, chunk: int = 500, per_call: int = 100, retry_for_s: float = 600.0):
        self.client = client
        self.keys = keys
        self.threshold = threshold
        self.hysteresis = hysteresis
        self.alert_maxlen = alert_maxlen
        self.chunk = chunk  # users per pipeline (one retry unit)
        self.per_call = per_call  # users per script call (Redis serves nothing else while a script runs)
        self.retry_for_s = retry_for_s
        self._script = client.register_script(WRITE_USERS_LUA)

    def write(self, users: Sequence[UserWrite]) -> list[Written]:
        """Write all users, in their order; one :class:`Written` per user."""
        results: list[Written] = []
        for start in range(0, len(users), self.chunk):
            results.extend(with_retry(lambda: self._write_chunk(users[start:start + self.chunk]), self.retry_for_s))
        return results

    def _write_chunk(self, users: Sequence[UserWrite]) -> list[Written]:
        k = self.keys
        fixed_keys = [k.ranking, k.churned, k.alerts, k.importance, k.health, k.cancelled_risk, k.caught]
        pipe = self.client.pipeline(transaction=False)
        for start in range(0, len(users), self.per_call):
            keys = list(fixed_keys)
            argv: list[Any] = [repr(float(self.threshold)), repr(float(self.hysteresis)), self.alert_maxlen]
            for u in users[start:start + self.per_call]:
                keys.append(k.user(u.user_id))
                argv += [u.user_id, u.as_of, u.n_events, repr(float(u.risk)),
                         "" if u.churn_ts is None else int(u.churn_ts), u.shap_json, u.level, len(u.fields)]
                for name, value in u.fields.items():
                    argv += [name, value]
            self._script(keys=keys, args=argv, client=pipe)
        return [Written(int(code), int(counted), bool(int(named)))
                for call in pipe.execute() for code, counted, named in call]


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
