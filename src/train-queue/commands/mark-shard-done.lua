--[[
  Records a finished training shard of a round (idempotent: a set) and counts the round's finished shards.

  KEYS[1] PREFIX:train:RUN:eEPOCH:done (set of finished shard ids)
  ARGV[1] shard id

  Returns the number of distinct finished shards of the round, this one included.
]]
redis.call('SADD', KEYS[1], ARGV[1])
return redis.call('SCARD', KEYS[1])
