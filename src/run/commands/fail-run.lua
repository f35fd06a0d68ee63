--[[
  Fails a running run with a reason (e.g. the model cannot be loaded).

  KEYS[1] run hash
  ARGV[1] reason

  Returns the run's generation; -1 when the run is unknown or not running (nothing changed).
]]
local cur = redis.call('HMGET', KEYS[1], 'runId', 'generation', 'status')
if not cur[1] or cur[3] ~= 'running' then return -1 end
local t = redis.call('TIME')
local now = tostring(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
redis.call('HSET', KEYS[1], 'status', 'failed', 'reason', ARGV[1], 'progressAt', now)
return tonumber(cur[2])
