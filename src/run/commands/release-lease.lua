--[[
  Releases the run's listing lease only while the caller holds it (compare and delete): a producer whose
  lease lapsed cannot delete its successor's.

  KEYS[1] lease   PREFIX:run:ID:lister
  ARGV[1] holder token

  Returns 1 when released; 0 when the lease was free or another holder's.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
