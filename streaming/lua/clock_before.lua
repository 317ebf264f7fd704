-- The event-time clock before a batch (streaming/health.py), recorded with the batch's tag so that a batch run
-- again after a crash starts from the same clock as its first run.
-- KEYS: 1 health hash. ARGV: 1 the batch's tag. Returns the clock before this batch (-1: none yet).
if redis.call('HGET', KEYS[1], 'clock_batch') == ARGV[1] then
  return redis.call('HGET', KEYS[1], 'clock_before_ms') or '-1'
end
local cur = redis.call('HGET', KEYS[1], 'clock_ms') or '-1'
redis.call('HSET', KEYS[1], 'clock_batch', ARGV[1], 'clock_before_ms', cur)
return cur
