--[[
  Registers a run (new, or rebuilt from S3) unless Redis already has it.

  KEYS[1] run hash        PREFIX:run:ID
  KEYS[2] done bitmap     PREFIX:run:ID:done
  KEYS[3] plan hash       PREFIX:run:ID:plan (batch -> attempt generation)
  KEYS[4] staged bitmap   the done bitmap the caller SET beforehand (absent when no batch is done)

  ARGV[1]                 n: the number of hash field pairs that follow
  ARGV[2 .. 1+2n]         field, value pairs of the run hash
  ARGV[2+2n ..]           batch, generation pairs of the plan

  Returns 1 when the run was created; 0 when it existed (nothing changed, the staged bitmap is dropped).
]]
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('DEL', KEYS[4])
  return 0
end
local t = redis.call('TIME')
local now = tostring(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
redis.call('DEL', KEYS[2], KEYS[3])
if redis.call('EXISTS', KEYS[4]) == 1 then redis.call('RENAME', KEYS[4], KEYS[2]) end
local n = tonumber(ARGV[1])
redis.call('HSET', KEYS[1], 'progressAt', now, unpack(ARGV, 2, 1 + 2 * n))
for j = 2 + 2 * n, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[j], ARGV[j + 1]) end
return 1
