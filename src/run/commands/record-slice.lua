--[[
  Records one slice of a batch that was split apart after its process crashed (isolate.ts): a slice whose
  part is written (field 'START-END': its counts, attempts and meta) or a slice split in two (field
  'split:START-END': its crashed attempts). Set once: a repeated record keeps the first value, so a retried
  job cannot count twice. The hash expires with the other traces of a finished batch (ARGV[3] seconds).

  KEYS[1] the batch's slice hash (PREFIX:run:ID:slices:BATCH:GENERATION)
  ARGV[1] field, ARGV[2] value (JSON), ARGV[3] seconds to keep the hash

  Returns {covered, field1, value1, field2, value2, ...}: covered is how many of the batch's keys lie in
  recorded slices ('START-END' fields; split slices are not counted, their halves are), then every field of
  the hash with its value.
]]
redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
local all = redis.call('HGETALL', KEYS[1])
local covered = 0
for i = 1, #all, 2 do
  local s, e = string.match(all[i], '^(%d+)-(%d+)$')
  if s then covered = covered + tonumber(e) - tonumber(s) end
end
local reply = {covered}
for i = 1, #all do reply[#reply + 1] = all[i] end
return reply
