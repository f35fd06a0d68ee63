--[[
  Records the merged outcome of attempt generation G, unless the run has moved on to a later one.

  KEYS[1] run hash
  ARGV[1] generation G, ARGV[2] status, ARGV[3] keys scored, ARGV[4] keys failed, ARGV[5] finishedAt,
  ARGV[6] reason ('' keeps the current one)

  Returns 1 when recorded; 0 when the run is unknown or at another generation.
]]
local cur = redis.call('HMGET', KEYS[1], 'runId', 'generation')
if not cur[1] or tonumber(cur[2]) ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'scored', ARGV[3], 'failed', ARGV[4], 'finishedAt', ARGV[5])
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'reason', ARGV[6]) end
return 1
