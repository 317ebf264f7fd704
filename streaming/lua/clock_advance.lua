-- Moves the event-time clock forward (streaming/health.py), never back.
-- KEYS: 1 health hash. ARGV: 1 an event time. Returns the clock, moved to it unless that would move it back.
local cur = tonumber(redis.call('HGET', KEYS[1], 'clock_ms') or '-1')
local new = tonumber(ARGV[1])
if new > cur then redis.call('HSET', KEYS[1], 'clock_ms', ARGV[1]); return ARGV[1] end
return tostring(cur)
