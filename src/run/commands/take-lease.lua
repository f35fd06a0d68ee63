--[[
  Takes the run's listing lease, or renews it, for one holder: only while it is free or already that
  holder's, so a producer whose lease lapsed and was taken over cannot take it back.

  KEYS[1] lease   PREFIX:run:ID:lister
  ARGV[1] holder token, ARGV[2] time to live in ms

  Returns 1 when the caller holds the lease now; 0 while another holder has it.
]]
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
