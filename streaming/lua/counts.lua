-- Cumulative counts per kind of record into the health hash (streaming/health.py), then the totals.
-- KEYS: 1 health hash. ARGV: (field, cumulative count) pairs from Spark's state.
-- Counts only grow, so a replayed (older) value never lowers one; the totals are recomputed from the parts.
-- Returns events_in.
for i = 1, #ARGV, 2 do
  local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0')
  if tonumber(ARGV[i + 1]) > cur then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
local h = redis.call('HGETALL', KEYS[1])
local prefix = 'dead_letters:'
local dead, valid, hidden = 0, 0, 0
for i = 1, #h, 2 do
  if string.sub(h[i], 1, #prefix) == prefix then dead = dead + tonumber(h[i + 1])
  elseif h[i] == 'valid_events' then valid = tonumber(h[i + 1])
  elseif h[i] == 'hidden_events' then hidden = tonumber(h[i + 1]) end
end
redis.call('HSET', KEYS[1], 'dead_letters', dead, 'events_in', valid + hidden + dead)
return valid + hidden + dead
