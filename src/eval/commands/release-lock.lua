--[[
  Releases a lock only while the caller holds it (compare and delete): a caller whose lock expired and
  was taken by another cannot delete the other's.

  KEYS[1] the lock key
  ARGV[1] the caller's token

  Returns 1 when released; 0 when the lock was free or another caller's.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
