--[[
  The listing went on: the run now has these totals (final when listing is 0). Only a run Redis has.

  KEYS[1] run hash
  ARGV[1] totalKeys, ARGV[2] totalBatches, ARGV[3] skipped, ARGV[4] listing (1 or 0)

  Returns 1 when set; 0 when Redis does not have the run.
]]
if redis.call('HEXISTS', KEYS[1], 'runId') == 0 then return 0 end
redis.call('HSET', KEYS[1], 'totalKeys', ARGV[1], 'totalBatches', ARGV[2], 'skipped', ARGV[3], 'listing', ARGV[4])
return 1
