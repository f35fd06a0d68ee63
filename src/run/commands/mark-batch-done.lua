--[[
  Counts a finished batch once, and only for the attempt generation the run's plan gives it.

  KEYS[1] run hash, KEYS[2] done bitmap, KEYS[3] plan hash
  ARGV[1] batch, ARGV[2] the job's generation, ARGV[3] keys scored, ARGV[4] keys failed

  Returns {outcome, doneBatches, totalBatches, status, generation, listing}:
    outcome  1 counted now, 0 already counted, -1 the run is not in Redis (the rest is 0 or ''),
             -2 not in the run's current plan (a stale generation: nothing counted)
    listing  1 while the producer is still listing, else 0
  Counters are clamped to the run's keys once the listing is complete.
]]
local h = redis.call('HMGET', KEYS[1], 'runId', 'totalBatches', 'totalKeys', 'scored', 'failed', 'status', 'generation', 'listing')
if not h[1] then return {-1, 0, 0, '', 0, 0} end
local function result(outcome)
  return {outcome, redis.call('BITCOUNT', KEYS[2]), tonumber(h[2]), h[6], tonumber(h[7]), tonumber(h[8] or '0')}
end
local planned = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
if planned ~= tonumber(ARGV[2]) then return result(-2) end
if redis.call('SETBIT', KEYS[2], ARGV[1], 1) == 1 then return result(0) end
local t = redis.call('TIME')
local now = tostring(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
local keys = tonumber(h[3])
local scored = tonumber(h[4]) + tonumber(ARGV[3])
local failed = tonumber(h[5]) + tonumber(ARGV[4])
if h[8] ~= '1' then
  scored = math.min(scored, keys)
  failed = math.min(failed, keys - scored)
end
redis.call('HSET', KEYS[1], 'scored', scored, 'failed', failed, 'progressAt', now)
return result(1)
