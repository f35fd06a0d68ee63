import type { Redis } from 'ioredis';
import type { S3Location } from '../s3/uri.js';
import type { RunStatus } from './state.js';

export type { RunStatus };

export interface RunState {
  runId: string;
  status: RunStatus;
  /** Why the run failed, or the note of how it ended. */
  reason?: string;
  createdAt: string;
  finishedAt?: string;
  /** Epoch ms (Redis clock) of the last batch done or generation started. */
  progressAt?: number;
  source: string;
  out: S3Location;
  totalKeys: number;
  skipped: number;
  scored: number;
  failed: number;
  totalBatches: number;
  doneBatches: number;
  generation: number;
}

export interface RunInit {
  source: string;
  out: S3Location;
  totalKeys: number;
  totalBatches: number;
  skipped: number;
  createdAt: string;
}

/** Where a new (or rebuilt) run starts: its generation, the batches still to run, and the counters of what is done. */
export interface RunStart {
  generation: number;
  pending: number[];
  /** Batches whose current generation is not 0. */
  plan: [batch: number, generation: number][];
  scored: number;
  failed: number;
}

/** 1: counted now; 0: already counted; -1: the run is not in Redis; -2: not in the run's current plan (stale generation). */
export type MarkResult = { outcome: 1 | 0 | -1 | -2; doneBatches: number; totalBatches: number; status: RunStatus | ''; generation: number };

const NOW = `local t = redis.call('TIME'); local now = tostring(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))`;
const SADD_REST = (from: string) => `for j = ${from}, #ARGV, 5000 do redis.call('SADD', KEYS[2], unpack(ARGV, j, math.min(j + 4999, #ARGV))) end`;

// KEYS: hash, pending, plan. ARGV: nFields, field pairs..., nPlan, (batch, generation) pairs..., pending batches...
const CREATE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
${NOW}
local i = 2
local fields = {}
for j = 1, tonumber(ARGV[1]) do fields[#fields + 1] = ARGV[i]; fields[#fields + 1] = ARGV[i + 1]; i = i + 2 end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'progressAt', now, unpack(fields))
local np = tonumber(ARGV[i]); i = i + 1
for j = 1, np do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]); i = i + 2 end
${SADD_REST('i')}
return 1
`;

// KEYS: hash, pending, plan. ARGV: batch, generation, scored, failed.
const MARK_DONE = `
local h = redis.call('HMGET', KEYS[1], 'runId', 'totalBatches', 'totalKeys', 'scored', 'failed', 'status', 'generation')
if not h[1] then return {-1, 0, 0, '', 0} end
local total = tonumber(h[2])
local planned = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
if tonumber(ARGV[1]) >= total or planned ~= tonumber(ARGV[2]) then
  return {-2, total - redis.call('SCARD', KEYS[2]), total, h[6], tonumber(h[7])}
end
if redis.call('SREM', KEYS[2], ARGV[1]) == 0 then return {0, total - redis.call('SCARD', KEYS[2]), total, h[6], tonumber(h[7])} end
${NOW}
local keys = tonumber(h[3])
local scored = math.min(tonumber(h[4]) + tonumber(ARGV[3]), keys)
local failed = math.min(tonumber(h[5]) + tonumber(ARGV[4]), keys - scored)
redis.call('HSET', KEYS[1], 'scored', scored, 'failed', failed, 'progressAt', now)
return {1, total - redis.call('SCARD', KEYS[2]), total, h[6], tonumber(h[7])}
`;

// KEYS: hash, pending, plan. ARGV: generation, scored, failed, planned batches...
const START_GENERATION = `
local cur = redis.call('HMGET', KEYS[1], 'runId', 'generation')
if not cur[1] then return -1 end
if tonumber(cur[2]) >= tonumber(ARGV[1]) then return 0 end
${NOW}
redis.call('DEL', KEYS[2])
for j = 4, #ARGV do redis.call('HSET', KEYS[3], ARGV[j], ARGV[1]) end
${SADD_REST('4')}
redis.call('HSET', KEYS[1], 'generation', ARGV[1], 'scored', ARGV[2], 'failed', ARGV[3], 'status', 'running', 'progressAt', now)
redis.call('HDEL', KEYS[1], 'reason', 'finishedAt')
return 1
`;

// KEYS: hash. ARGV: generation, status, scored, failed, finishedAt, reason ('' keeps the current one).
const FINISH = `
local cur = redis.call('HMGET', KEYS[1], 'runId', 'generation')
if not cur[1] or tonumber(cur[2]) ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'scored', ARGV[3], 'failed', ARGV[4], 'finishedAt', ARGV[5])
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'reason', ARGV[6]) end
return 1
`;

// KEYS: hash. ARGV: reason. Returns the run's generation, or -1 when it was not running.
const FAIL = `
local cur = redis.call('HMGET', KEYS[1], 'runId', 'generation', 'status')
if not cur[1] or cur[3] ~= 'running' then return -1 end
${NOW}
redis.call('HSET', KEYS[1], 'status', 'failed', 'reason', ARGV[1], 'progressAt', now)
return tonumber(cur[2])
`;

/**
 * A run's progress in Redis, a cache of what S3 records: a hash of counters and state, the set of batches
 * still to run in the current plan, and each batch's current attempt generation (when not 0).
 * Every change is one Lua script, so a stale or repeated batch can never be counted.
 */
export class RunStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private keys(runId: string): [hash: string, pending: string, plan: string] {
    const base = `${this.prefix}:run:${runId}`;
    return [base, `${base}:pending`, `${base}:plan`];
  }

  /** Registers a run (new, or rebuilt from S3); returns false and changes nothing when it already exists. */
  async create(runId: string, init: RunInit, start: RunStart): Promise<boolean> {
    const fields: Record<string, string | number> = {
      runId,
      status: 'running',
      createdAt: init.createdAt,
      source: init.source,
      out: JSON.stringify(init.out),
      totalKeys: init.totalKeys,
      totalBatches: init.totalBatches,
      skipped: init.skipped,
      generation: start.generation,
      scored: start.scored,
      failed: start.failed,
    };
    const args = [Object.keys(fields).length, ...Object.entries(fields).flat(), start.plan.length, ...start.plan.flat(), ...start.pending];
    return (await this.redis.eval(CREATE, 3, ...this.keys(runId), ...args.map(String))) === 1;
  }

  async get(runId: string): Promise<RunState | undefined> {
    const [hash, pending] = this.keys(runId);
    const [[, h], [, open]] = (await this.redis.multi().hgetall(hash).scard(pending).exec()) as [[unknown, Record<string, string>], [unknown, number]];
    if (!h || !h.runId) return undefined;
    const totalBatches = Number(h.totalBatches);
    return {
      runId: h.runId,
      status: h.status as RunStatus,
      reason: h.reason || undefined,
      createdAt: h.createdAt,
      finishedAt: h.finishedAt || undefined,
      progressAt: h.progressAt ? Number(h.progressAt) : undefined,
      source: h.source,
      out: JSON.parse(h.out) as S3Location,
      totalKeys: Number(h.totalKeys),
      skipped: Number(h.skipped ?? 0),
      scored: Number(h.scored),
      failed: Number(h.failed),
      totalBatches,
      doneBatches: totalBatches - open,
      generation: Number(h.generation ?? 0),
    };
  }

  /** The batches still to run, each with its current generation. */
  async pendingBatches(runId: string): Promise<{ batch: number; generation: number }[]> {
    const [, pending, plan] = this.keys(runId);
    const [[, open], [, gens]] = (await this.redis.multi().smembers(pending).hgetall(plan).exec()) as [[unknown, string[]], [unknown, Record<string, string>]];
    return open.map(Number).sort((a, b) => a - b).map((batch) => ({ batch, generation: Number(gens[batch] ?? 0) }));
  }

  /** Whether a batch job belongs to the run's current plan: 'unknown' when Redis does not have the run. */
  async batchStanding(runId: string, batch: number, generation: number): Promise<'current' | 'stale' | 'run-failed' | 'unknown'> {
    const [hash, , plan] = this.keys(runId);
    const [[, status], [, planned]] = (await this.redis.multi().hget(hash, 'status').hget(plan, String(batch)).exec()) as [[unknown, string | null], [unknown, string | null]];
    if (!status) return 'unknown';
    if (Number(planned ?? 0) !== generation) return 'stale';
    return status === 'failed' ? 'run-failed' : 'current';
  }

  /** Counts a finished batch once, and only for the generation the run's plan gives it. */
  async markBatchDone(runId: string, batch: number, generation: number, scored: number, failed: number): Promise<MarkResult> {
    const [outcome, doneBatches, totalBatches, status, gen] = (await this.redis.eval(MARK_DONE, 3, ...this.keys(runId), batch, generation, scored, failed)) as [
      MarkResult['outcome'],
      number,
      number,
      MarkResult['status'],
      number,
    ];
    return { outcome, doneBatches, totalBatches, status, generation: gen };
  }

  /** Starts attempt generation G: only `planned` remain to run. 1: started; 0: G (or later) already started; -1: unknown run. */
  async startGeneration(runId: string, generation: number, planned: number[], counts: { scored: number; failed: number }): Promise<1 | 0 | -1> {
    return (await this.redis.eval(START_GENERATION, 3, ...this.keys(runId), generation, counts.scored, counts.failed, ...planned)) as 1 | 0 | -1;
  }

  /** Records the merged outcome of generation G; false when the run has moved on to a later generation. */
  async finish(runId: string, generation: number, status: RunStatus, counts: { scored: number; failed: number }, finishedAt: string, reason = ''): Promise<boolean> {
    const [hash] = this.keys(runId);
    return (await this.redis.eval(FINISH, 1, hash, generation, status, counts.scored, counts.failed, finishedAt, reason)) === 1;
  }

  /** Fails a running run with a reason (e.g. the model cannot be loaded); returns its generation, or undefined when it was not running. */
  async fail(runId: string, reason: string): Promise<number | undefined> {
    const [hash] = this.keys(runId);
    const g = (await this.redis.eval(FAIL, 1, hash, reason)) as number;
    return g < 0 ? undefined : g;
  }
}
