--[[
  Hands the caller up to `want` batches not yet done, from the run's `fed` cursor on, and moves the cursor
  past them (the caller enqueues them; BullMQ ignores a job id it holds, so a repeat is harmless).

  KEYS[1] run hash, KEYS[2] done bitmap, KEYS[3] plan hash
  ARGV[1] want: batches wanted, ARGV[2] scan: most batches to look at

  Returns {-1} when the run is not running; else {fed, batch1, generation1, batch2, generation2, ...}
  with fed the new cursor.
]]
local h = redis.call('HMGET', KEYS[1], 'status', 'fed', 'totalBatches')
if h[1] ~= 'running' then return {-1} end
local fed = tonumber(h[2] or '0')
local limit = tonumber(h[3])
local want = tonumber(ARGV[1])
local scan = fed + tonumber(ARGV[2])
local out = {0}
while fed < limit and fed < scan and #out <= 2 * want do
  if redis.call('GETBIT', KEYS[2], fed) == 0 then
    out[#out + 1] = fed
    out[#out + 1] = tonumber(redis.call('HGET', KEYS[3], fed) or '0')
  end
  fed = fed + 1
end
redis.call('HSET', KEYS[1], 'fed', fed)
out[1] = fed
return out
