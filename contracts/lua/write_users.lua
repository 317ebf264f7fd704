-- Writes a chunk of scored users (contracts/user_writer.py): each user's hash, the ranking, the churned set, the
-- alert stream and the global importance move together, and a write not newer than what Redis holds, ordered by
-- (as_of, n_events), changes nothing (a replayed micro-batch), so no alert is raised twice and no score moves back
-- in event time.
-- KEYS: 1 ranking, 2 churned, 3 alerts, 4 importance, 5 stream health, 6 cancelled users by their last risk before
-- cancelling, 7 caught cancellations, 8 raw aggregates, then one user hash per user.
-- ARGV: 1 threshold, 2 hysteresis, 3 alert stream maxlen, then per user: userId, as_of, n_events, risk, churned_ts
-- or "", shap JSON or "" (an active user's refresh that keeps the SHAP values and drivers Redis holds), level,
-- packed raw aggregates or "" (none), the number of other hash field/value pairs, the pairs.
-- Returns per user {code, new events counted, had a display name}: code 0 = refused (not newer), 1 = written,
-- 2 = written with an alert. The user's events not counted before are added to the health hash's valid_events in
-- the same script, so the count is exact under batch replay too. Global importance (the sum of |SHAP| per feature
-- over active users) moves by the chunk's summed changes: one HINCRBYFLOAT per feature per chunk.
-- For "did we see it coming?": an active write at or above the threshold records the event time it first did
-- (first_high_ts); the write that records a cancellation keeps the last risk scored while active
-- (risk_before_cancel; this write's own risk when it is the user's first), ranks the user by it in KEYS[6] and,
-- when the user had been high before cancelling, adds it to KEYS[7] with the lead time (ms) as score. Both happen
-- once per user (a refused replay changes nothing; a cancelled user's later writes skip them).
-- Cost: an active user's write is one HMGET and one HSET of its hash; the ranking and the raw aggregates of the
-- whole call are written by one ZADD and one HSET at its end (a cancellation in the call takes its user out of
-- the pending ranking), because each redis.call costs the interpreter more than the command costs Redis.
local thr = tonumber(ARGV[1])
local hyst = tonumber(ARGV[2])
local delta, n_delta, counted_total, any_written = {}, 0, 0, false
local ranked, raws = {}, {}  -- userId -> risk / packed raw aggregates, written at the end
local OLD_FIELDS = {'as_of', 'n_events', 'alerting', 'churned', 'name', 'risk', 'first_high_ts', 'shap'}
local function add_abs(json, sign)
  for f, v in pairs(cjson.decode(json)) do delta[f] = (delta[f] or 0) + sign * math.abs(v) end
end
local out = {}
local a = 4
for u = 9, #KEYS do
  local key = KEYS[u]
  local uid, as_of, risk_s, churn_ts = ARGV[a], ARGV[a + 1], ARGV[a + 3], ARGV[a + 4]
  local shap, level, raw = ARGV[a + 5], ARGV[a + 6], ARGV[a + 7]
  local new_asof, new_n, n_fields = tonumber(as_of), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 8])
  local first_field = a + 9
  local last_field = first_field + 2 * n_fields - 1
  a = last_field + 1
  local keep = shap == '' and churn_ts == ''
  -- the old SHAP values (8) only when they are replaced: a refresh that keeps them does not read them
  local old = redis.call('HMGET', key, unpack(OLD_FIELDS, 1, keep and 7 or 8))
  local named = old[5] and 1 or 0
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
    if (not keep) and old[1] and old[4] ~= '1' and old[8] then
      add_abs(old[8], -1)
      n_delta = n_delta - 1
    end
    if raw ~= '' then raws[uid] = raw end
    if churn_ts ~= '' then
      redis.call('HSET', key, 'shap', shap, 'risk', risk_s, 'as_of', as_of, 'churned', '1', 'churned_ts', churn_ts,
                 'alerting', '0', unpack(ARGV, first_field, last_field))
      ranked[uid] = nil
      redis.call('ZREM', KEYS[1], uid)
      redis.call('ZADD', KEYS[2], churn_ts, uid)
      if old[4] ~= '1' then
        local before = (old[1] and old[6]) or risk_s
        redis.call('HSET', key, 'risk_before_cancel', before)
        redis.call('ZADD', KEYS[6], before, uid)
        if old[7] and tonumber(old[7]) <= tonumber(churn_ts) then
          redis.call('ZADD', KEYS[7], tonumber(churn_ts) - tonumber(old[7]), uid)
        end
      end
      out[#out + 1] = {1, counted, named}
    else
      local risk = tonumber(risk_s)
      ranked[uid] = risk_s
      if not keep then
        add_abs(shap, 1)
        n_delta = n_delta + 1
      end
      local alerting = old[3] == '1'
      local direction = nil
      if (not alerting) and risk >= thr then direction = 'up'; alerting = true
      elseif alerting and risk < thr - hyst then direction = 'down'; alerting = false end
      local flag = alerting and '1' or '0'
      if risk >= thr and not old[7] then
        redis.call('HSET', key, 'first_high_ts', as_of)
      end
      if keep then
        redis.call('HSET', key, 'risk', risk_s, 'as_of', as_of, 'alerting', flag, 'churned', '0',
                   unpack(ARGV, first_field, last_field))
      else
        redis.call('HSET', key, 'shap', shap, 'risk', risk_s, 'as_of', as_of, 'alerting', flag, 'churned', '0',
                   unpack(ARGV, first_field, last_field))
      end
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
  local args = {}
  for uid, r in pairs(ranked) do args[#args + 1] = r; args[#args + 1] = uid end
  if #args > 0 then redis.call('ZADD', KEYS[1], unpack(args)) end
  args = {}
  for uid, r in pairs(raws) do args[#args + 1] = uid; args[#args + 1] = r end
  if #args > 0 then redis.call('HSET', KEYS[8], unpack(args)) end
  redis.call('HINCRBY', KEYS[5], 'valid_events', counted_total)
  for f, v in pairs(delta) do redis.call('HINCRBYFLOAT', KEYS[4], f, v) end
  redis.call('HINCRBY', KEYS[4], '__n__', n_delta)
end
return out
