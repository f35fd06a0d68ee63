import type { Redis } from 'ioredis';
import type { S3Location } from '../shared/s3/uri.js';
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
  /** The producer is still listing: the totals grow. */
  listing: boolean;
  /** Batches below this have been handed to the queue. */
  fed: number;
  /** --max-queued-batches given to the producer, if any. */
  window?: number;
}

export interface RunInit {
  source: string;
  out: S3Location;
  totalKeys: number;
  totalBatches: number;
  skipped: number;
  createdAt: string;
  /** True while the producer is still listing: the totals grow and the run cannot end yet. */
  listing: boolean;
  /** --max-queued-batches; absent: 20 x the workers' concurrency, estimated when feeding. */
  window?: number;
}

/** Where a new (or rebuilt) run starts: its generation, the batches already done, and the counters of what is done. */
export interface RunStart {
  generation: number;
  /** Bitmap of the batches whose current generation has its part (Redis bit order: batch 0 is the high bit of byte 0). */
  done?: Uint8Array;
  /** Batches whose current generation is not 0. */
  plan: [batch: number, generation: number][];
  scored: number;
  failed: number;
}

/** 1: counted now; 0: already counted; -1: the run is not in Redis; -2: not in the run's current plan (stale generation). */
export type MarkResult = { outcome: 1 | 0 | -1 | -2; doneBatches: number; totalBatches: number; status: RunStatus | ''; generation: number; listing: boolean };

/** Batches handed to the queue by one feed: each with its current generation. */
export type Fed = { batch: number; generation: number }[];

const NOW = `local t = redis.call('TIME'); local now = tostring(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))`;
const MARK_RESULT = (outcome: string) => `return {${outcome}, redis.call('BITCOUNT', KEYS[2]), tonumber(h[2]), h[6], tonumber(h[7]), tonumber(h[8] or '0')}`;

// KEYS: hash, done, plan, staged done bitmap. ARGV: nFields, field pairs..., (batch, generation) pairs...
const CREATE = `
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('DEL', KEYS[4]); return 0 end
${NOW}
redis.call('DEL', KEYS[2], KEYS[3])
if redis.call('EXISTS', KEYS[4]) == 1 then redis.call('RENAME', KEYS[4], KEYS[2]) end
local n = tonumber(ARGV[1])
redis.call('HSET', KEYS[1], 'progressAt', now, unpack(ARGV, 2, 1 + 2 * n))
for j = 2 + 2 * n, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[j], ARGV[j + 1]) end
return 1
`;

// KEYS: hash, done, plan. ARGV: batch, generation, scored, failed.
const MARK_DONE = `
local h = redis.call('HMGET', KEYS[1], 'runId', 'totalBatches', 'totalKeys', 'scored', 'failed', 'status', 'generation', 'listing')
if not h[1] then return {-1, 0, 0, '', 0, 0} end
local planned = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
if planned ~= tonumber(ARGV[2]) then ${MARK_RESULT('-2')} end
if redis.call('SETBIT', KEYS[2], ARGV[1], 1) == 1 then ${MARK_RESULT('0')} end
${NOW}
local keys = tonumber(h[3])
local scored = tonumber(h[4]) + tonumber(ARGV[3])
local failed = tonumber(h[5]) + tonumber(ARGV[4])
if h[8] ~= '1' then scored = math.min(scored, keys); failed = math.min(failed, keys - scored) end
redis.call('HSET', KEYS[1], 'scored', scored, 'failed', failed, 'progressAt', now)
${MARK_RESULT('1')}
`;

// KEYS: hash, done, plan. ARGV: generation, scored, failed, planned batches...
const START_GENERATION = `
local cur = redis.call('HMGET', KEYS[1], 'runId', 'generation')
if not cur[1] then return -1 end
if tonumber(cur[2]) >= tonumber(ARGV[1]) then return 0 end
${NOW}
for j = 4, #ARGV do redis.call('HSET', KEYS[3], ARGV[j], ARGV[1]); redis.call('SETBIT', KEYS[2], ARGV[j], 0) end
redis.call('HSET', KEYS[1], 'generation', ARGV[1], 'scored', ARGV[2], 'failed', ARGV[3], 'status', 'running', 'progressAt', now, 'fed', 0)
redis.call('HDEL', KEYS[1], 'reason', 'finishedAt')
return 1
`;

// KEYS: hash, done, plan. ARGV: batches wanted, most batches to scan. Returns fed, then (batch, generation) pairs.
const FEED = `
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
`;

// KEYS: hash. ARGV: totalKeys, totalBatches, skipped, listing (1/0). Only a run Redis has.
const EXTEND = `
if redis.call('HEXISTS', KEYS[1], 'runId') == 0 then return 0 end
redis.call('HSET', KEYS[1], 'totalKeys', ARGV[1], 'totalBatches', ARGV[2], 'skipped', ARGV[3], 'listing', ARGV[4])
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

// KEYS: lease. ARGV: holder, ttl ms. 1 when the caller holds the lease now.
const LEASE = `
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;

/** Batch b is done in a Redis bitmap (bit order: batch 0 is the high bit of byte 0). Pure. */
export function bitIsSet(bits: Uint8Array, b: number): boolean {
  return b >> 3 < bits.length && (bits[b >> 3] & (0x80 >> (b & 7))) !== 0;
}

export function setBit(bits: Uint8Array, b: number): void {
  bits[b >> 3] |= 0x80 >> (b & 7);
}

/**
 * A run's progress in Redis, a cache of what S3 records, sized by the queue window, not by the run: a hash
 * of counters and state (with `fed`, the next batch to hand to the queue), a bitmap of done batches
 * (1 bit a batch) and each re-planned batch's attempt generation. Every change is one Lua script, so a
 * stale or repeated batch can never be counted.
 */
export class RunStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private keys(runId: string): [hash: string, done: string, plan: string] {
    const base = `${this.prefix}:run:${runId}`;
    return [base, `${base}:done`, `${base}:plan`];
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
      listing: init.listing ? 1 : 0,
      fed: 0,
      ...(init.window ? { window: init.window } : {}),
    };
    const keys = this.keys(runId);
    const staged = `${keys[1]}:staged:${process.pid}:${Date.now()}`;
    if (start.done?.some((x) => x !== 0)) await this.redis.set(staged, Buffer.from(start.done));
    const args = [Object.keys(fields).length, ...Object.entries(fields).flat(), ...start.plan.flat()];
    return (await this.redis.eval(CREATE, 4, ...keys, staged, ...args.map(String))) === 1;
  }

  /** The listing went on: the run now has these totals (final when `listing` is false). False when Redis does not have the run. */
  async extend(runId: string, totals: { totalKeys: number; totalBatches: number; skipped: number; listing: boolean }): Promise<boolean> {
    const [hash] = this.keys(runId);
    return (await this.redis.eval(EXTEND, 1, hash, totals.totalKeys, totals.totalBatches, totals.skipped, totals.listing ? 1 : 0)) === 1;
  }

  async get(runId: string): Promise<RunState | undefined> {
    const [hash, done] = this.keys(runId);
    const [[, h], [, count]] = (await this.redis.multi().hgetall(hash).bitcount(done).exec()) as [[unknown, Record<string, string>], [unknown, number]];
    if (!h || !h.runId) return undefined;
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
      totalBatches: Number(h.totalBatches),
      doneBatches: count,
      generation: Number(h.generation ?? 0),
      listing: h.listing === '1',
      fed: Number(h.fed ?? 0),
      window: h.window ? Number(h.window) : undefined,
    };
  }

  /** Hands up to `want` batches not yet done, from the `fed` cursor on, to the caller to enqueue (scanning at most `scan` batches). */
  async feed(runId: string, want: number, scan = 100_000): Promise<{ fed: number; batches: Fed } | undefined> {
    const out = (await this.redis.eval(FEED, 3, ...this.keys(runId), want, scan)) as number[];
    if (out[0] < 0) return undefined;
    const batches: Fed = [];
    for (let i = 1; i < out.length; i += 2) batches.push({ batch: out[i], generation: out[i + 1] });
    return { fed: out[0], batches };
  }

  /** Batches already handed to the queue (below the cursor) that are not done: the ones to offer again. */
  async unfinishedFed(runId: string): Promise<Fed> {
    const [hash, done, plan] = this.keys(runId);
    const [[, fed], [, bits], [, gens]] = (await this.redis.multi().hget(hash, 'fed').getBuffer(done).hgetall(plan).exec()) as [
      [unknown, string | null],
      [unknown, Buffer | null],
      [unknown, Record<string, string>],
    ];
    const map = bits ?? new Uint8Array(0);
    const out: Fed = [];
    for (let b = 0; b < Number(fed ?? 0); b++) if (!bitIsSet(map, b)) out.push({ batch: b, generation: Number(gens[b] ?? 0) });
    return out;
  }

  /** Whether a batch job still has work in the run's current plan: 'unknown' when Redis does not have the run. */
  async batchStanding(runId: string, batch: number, generation: number): Promise<'current' | 'stale' | 'done' | 'run-failed' | 'unknown'> {
    const [hash, done, plan] = this.keys(runId);
    const [[, status], [, planned], [, bit]] = (await this.redis.multi().hget(hash, 'status').hget(plan, String(batch)).getbit(done, batch).exec()) as [
      [unknown, string | null],
      [unknown, string | null],
      [unknown, number],
    ];
    if (!status) return 'unknown';
    if (Number(planned ?? 0) !== generation) return 'stale';
    if (status === 'failed') return 'run-failed';
    return bit === 1 ? 'done' : 'current';
  }

  /** Counts a finished batch once, and only for the generation the run's plan gives it. */
  async markBatchDone(runId: string, batch: number, generation: number, scored: number, failed: number): Promise<MarkResult> {
    const [outcome, doneBatches, totalBatches, status, gen, listing] = (await this.redis.eval(MARK_DONE, 3, ...this.keys(runId), batch, generation, scored, failed)) as [
      MarkResult['outcome'],
      number,
      number,
      MarkResult['status'],
      number,
      number,
    ];
    return { outcome, doneBatches, totalBatches, status, generation: gen, listing: listing === 1 };
  }

  /** Starts attempt generation G: only `planned` remain to run, fed again from batch 0. 1: started; 0: G (or later) already started; -1: unknown run. */
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

  /** Takes or renews the run's listing lease for `holder`; false while another holder has it. */
  async lease(runId: string, holder: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.eval(LEASE, 1, `${this.keys(runId)[0]}:lister`, holder, ttlMs)) === 1;
  }

  async releaseLease(runId: string): Promise<void> {
    await this.redis.del(`${this.keys(runId)[0]}:lister`);
  }
}
