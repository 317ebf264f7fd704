-- Moves each Kafka partition's event-time clock forward (streaming/health.py), never back: a cohort's labels wait
-- until every partition has passed the end of its window, so a cancellation still behind in a slower partition is
-- not missed.
-- KEYS: 1 health hash. ARGV: 1 the fields' prefix, then pairs of (field <prefix><partition>, the partition's latest
-- event time).
-- Returns the smallest clock over every partition seen so far (-1 when none).
local prefix = ARGV[1]
for i = 2, #ARGV, 2 do
  local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '-1')
  if tonumber(ARGV[i + 1]) > cur then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
local low = nil
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if string.sub(all[i], 1, #prefix) == prefix then
    local v = tonumber(all[i + 1])
    if low == nil or v < low then low = v end
  end
end
return tostring(low or -1)
