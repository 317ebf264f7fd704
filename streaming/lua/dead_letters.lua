-- One batch's dead letters into the dead-letter stream, once (streaming/health.py).
-- KEYS: 1 health hash, 2 dead-letter stream. ARGV: 1 batch id, 2 stream maxlen, then (value, reason, partition,
-- offset) quadruples. The batch id is recorded in the same script, so a replayed batch adds nothing twice.
-- Returns 1, or 0 when the batch was already recorded.
local last = tonumber(redis.call('HGET', KEYS[1], 'dead_letter_batch') or '-1')
if tonumber(ARGV[1]) <= last then return 0 end
for i = 3, #ARGV, 4 do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'value', ARGV[i], 'reason', ARGV[i + 1],
             'partition', ARGV[i + 2], 'offset', ARGV[i + 3])
end
redis.call('HSET', KEYS[1], 'dead_letter_batch', ARGV[1])
return 1
