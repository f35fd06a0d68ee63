--[[
  Starts attempt generation G: only the planned batches remain to run (their done bits cleared), and the
  feed cursor goes back to batch 0. The run is running again; its end note is cleared.

  KEYS[1] run hash, KEYS[2] done bitmap, KEYS[3] plan hash
  ARGV[1] generation G, ARGV[2] keys scored at the start, ARGV[3] keys failed at the start,
  ARGV[4 ..] the planned batches

  Returns 1 started; 0 G (or a later generation) had already started; -1 the run is not in Redis.
]]
local cur = redis.call('HMGET', KEYS[1], 'runId', 'generation')
if not cur[1] then return -1 end
if tonumber(cur[2]) >= tonumber(ARGV[1]) then return 0 end
local t = redis.call('TIME')
local now = tostring(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
for j = 4, #ARGV do
  redis.call('HSET', KEYS[3], ARGV[j], ARGV[1])
  redis.call('SETBIT', KEYS[2], ARGV[j], 0)
end
redis.call('HSET', KEYS[1], 'generation', ARGV[1], 'scored', ARGV[2], 'failed', ARGV[3], 'status', 'running', 'progressAt', now, 'fed', 0)
redis.call('HDEL', KEYS[1], 'reason', 'finishedAt')
return 1
