import type { Redis } from 'ioredis';
import { RedisScript } from '../shared/redis-script.js';
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

/** How markBatchDone went: counted now, counted before, not in Redis (lost its data?), or a stale generation's job. */
export type MarkOutcome = 'counted' | 'already-counted' | 'unknown-run' | 'stale';

/** A batch's record, decoded once from mark-batch-done.lua; the counters are the run's after it. */
export interface MarkResult {
  outcome: MarkOutcome;
  doneBatches: number;
  totalBatches: number;
  status: RunStatus | '';
  generation: number;
  listing: boolean;
}

/** How startGeneration went: started, already started (by another process, or a later one), or not in Redis. */
export type GenerationStart = 'started' | 'already-started' | 'unknown-run';

/** Batches handed to the queue by one feed: each with its current generation. */
export type Fed = { batch: number; generation: number }[];

/** The run's Redis protocol: one script a change, each in commands/NAME.lua with its KEYS, ARGV and reply. */
const script = (name: string) => RedisScript.load(new URL(`./commands/${name}.lua`, import.meta.url));
const SCRIPTS = {
  create: script('create-run'),
  markDone: script('mark-batch-done'),
  startGeneration: script('start-generation'),
  feed: script('feed'),
  extend: script('extend-run'),
  finish: script('finish-run'),
  fail: script('fail-run'),
  takeLease: script('take-lease'),
  releaseLease: script('release-lease'),
  recordSlice: script('record-slice'),
};

/** A split batch's slice records are kept a month, so a run resumed later still finds them. */
const SLICE_TTL_S = 30 * 24 * 3600;

const MARK_OUTCOMES: Record<number, MarkOutcome> = {
  1: 'counted',
  0: 'already-counted',
  [-1]: 'unknown-run',
  [-2]: 'stale',
};
const GENERATION_STARTS: Record<number, GenerationStart> = { 1: 'started', 0: 'already-started', [-1]: 'unknown-run' };

/** A script's integer reply as one of its named values; any other reply is a protocol fault, named. */
function decode<T>(values: Record<number, T>, reply: unknown, what: string): T {
  const v = values[Number(reply)];
  if (v === undefined) throw new Error(`Redis script ${what} replied ${JSON.stringify(reply)}, which it never returns`);
  return v;
}

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
 * (1 bit a batch) and each re-planned batch's attempt generation. Every change is one Lua script (commands/*.lua), so
 * a stale or repeated batch can never be counted.
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
    return (await SCRIPTS.create.run(this.redis, [...keys, staged], args.map(String))) === 1;
  }

  /** The listing went on: the run now has these totals (final when `listing` is false). False when Redis does not have the run. */
  async extend(
    runId: string,
    totals: { totalKeys: number; totalBatches: number; skipped: number; listing: boolean },
  ): Promise<boolean> {
    const [hash] = this.keys(runId);
    return (
      (await SCRIPTS.extend.run(
        this.redis,
        [hash],
        [totals.totalKeys, totals.totalBatches, totals.skipped, totals.listing ? 1 : 0],
      )) === 1
    );
  }

  async get(runId: string): Promise<RunState | undefined> {
    const [hash, done] = this.keys(runId);
    const [[, h], [, count]] = (await this.redis.multi().hgetall(hash).bitcount(done).exec()) as [
      [unknown, Record<string, string>],
      [unknown, number],
    ];
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

  /** Runs whose next batches found the queue window full (feed.ts): a sorted set, oldest first. */
  private get waitingKey(): string {
    return `${this.prefix}:runs:waiting-for-window`;
  }

  /** Notes a run whose next batches did not fit the window (the first time is kept, so the oldest is fed first). */
  async markWaitingForWindow(runId: string, now = Date.now()): Promise<void> {
    await this.redis.zadd(this.waitingKey, 'NX', String(now), runId);
  }

  /** The oldest `limit` runs waiting for room in the window. */
  async runsWaitingForWindow(limit: number): Promise<string[]> {
    return this.redis.zrange(this.waitingKey, '0', String(limit - 1));
  }

  async clearWaitingForWindow(runId: string): Promise<void> {
    await this.redis.zrem(this.waitingKey, runId);
  }

  /** Hands up to `want` batches not yet done, from the `fed` cursor on, to the caller to enqueue (scanning at most `scan` batches). */
  async feed(runId: string, want: number, scan = 100_000): Promise<{ fed: number; batches: Fed } | undefined> {
    const out = (await SCRIPTS.feed.run(this.redis, this.keys(runId), [want, scan])) as number[];
    if (out[0] < 0) return undefined;
    const batches: Fed = [];
    for (let i = 1; i < out.length; i += 2) batches.push({ batch: out[i], generation: out[i + 1] });
    return { fed: out[0], batches };
  }

  /** Batches already handed to the queue (below the cursor) that are not done: the ones to offer again. */
  async unfinishedFed(runId: string): Promise<Fed> {
    const [hash, done, plan] = this.keys(runId);
    const [[, fed], [, bits], [, gens]] = (await this.redis
      .multi()
      .hget(hash, 'fed')
      .getBuffer(done)
      .hgetall(plan)
      .exec()) as [[unknown, string | null], [unknown, Buffer | null], [unknown, Record<string, string>]];
    const map = bits ?? new Uint8Array(0);
    const out: Fed = [];
    for (let b = 0; b < Number(fed ?? 0); b++)
      if (!bitIsSet(map, b)) out.push({ batch: b, generation: Number(gens[b] ?? 0) });
    return out;
  }

  /** Whether a batch job still has work in the run's current plan: 'unknown' when Redis does not have the run. */
  async batchStanding(
    runId: string,
    batch: number,
    generation: number,
  ): Promise<'current' | 'stale' | 'done' | 'run-failed' | 'unknown'> {
    const [hash, done, plan] = this.keys(runId);
    const [[, status], [, planned], [, bit]] = (await this.redis
      .multi()
      .hget(hash, 'status')
      .hget(plan, String(batch))
      .getbit(done, batch)
      .exec()) as [[unknown, string | null], [unknown, string | null], [unknown, number]];
    if (!status) return 'unknown';
    if (Number(planned ?? 0) !== generation) return 'stale';
    if (status === 'failed') return 'run-failed';
    return bit === 1 ? 'done' : 'current';
  }

  /** Counts a finished batch once, and only for the generation the run's plan gives it. */
  async markBatchDone(
    runId: string,
    batch: number,
    generation: number,
    scored: number,
    failed: number,
  ): Promise<MarkResult> {
    const reply = (await SCRIPTS.markDone.run(this.redis, this.keys(runId), [batch, generation, scored, failed])) as [
      number,
      number,
      number,
      string,
      number,
      number,
    ];
    const [outcome, doneBatches, totalBatches, status, gen, listing] = reply;
    return {
      outcome: decode(MARK_OUTCOMES, outcome, 'mark-batch-done'),
      doneBatches,
      totalBatches,
      status: status as RunStatus | '',
      generation: gen,
      listing: listing === 1,
    };
  }

  /** Starts attempt generation G: only `planned` remain to run, fed again from batch 0. */
  async startGeneration(
    runId: string,
    generation: number,
    planned: number[],
    counts: { scored: number; failed: number },
  ): Promise<GenerationStart> {
    const reply = await SCRIPTS.startGeneration.run(this.redis, this.keys(runId), [
      generation,
      counts.scored,
      counts.failed,
      ...planned,
    ]);
    return decode(GENERATION_STARTS, reply, 'start-generation');
  }

  /** Records the merged outcome of generation G; false when the run has moved on to a later generation. */
  async finish(
    runId: string,
    generation: number,
    status: RunStatus,
    counts: { scored: number; failed: number },
    finishedAt: string,
    reason = '',
  ): Promise<boolean> {
    const [hash] = this.keys(runId);
    return (
      (await SCRIPTS.finish.run(
        this.redis,
        [hash],
        [generation, status, counts.scored, counts.failed, finishedAt, reason],
      )) === 1
    );
  }

  /** Fails a running run with a reason (e.g. the model cannot be loaded); returns its generation, or undefined when it was not running. */
  async fail(runId: string, reason: string): Promise<number | undefined> {
    const [hash] = this.keys(runId);
    const g = Number(await SCRIPTS.fail.run(this.redis, [hash], [reason]));
    return g < 0 ? undefined : g;
  }

  /** Takes or renews the run's listing lease for `holder`; false while another holder has it. */
  async lease(runId: string, holder: string, ttlMs: number): Promise<boolean> {
    return (await SCRIPTS.takeLease.run(this.redis, [this.leaseKey(runId)], [holder, ttlMs])) === 1;
  }

  /** Gives the lease up, only while `holder` has it: a producer whose lease lapsed cannot end its successor's. */
  async releaseLease(runId: string, holder: string): Promise<boolean> {
    return (await SCRIPTS.releaseLease.run(this.redis, [this.leaseKey(runId)], [holder])) === 1;
  }

  /**
   * Records a slice of a split batch once (field START-END) or its split (split:START-END); returns how many
   * of the batch's keys recorded slices cover, and every record of the batch (record-slice.lua).
   */
  async recordSlice(
    runId: string,
    batch: number,
    generation: number,
    field: string,
    value: unknown,
  ): Promise<{ covered: number; fields: Map<string, string> }> {
    const key = `${this.keys(runId)[0]}:slices:${batch}:${generation}`;
    const reply = (await SCRIPTS.recordSlice.run(this.redis, [key], [field, JSON.stringify(value), SLICE_TTL_S])) as [
      number,
      ...string[],
    ];
    const fields = new Map<string, string>();
    for (let i = 1; i < reply.length; i += 2) fields.set(reply[i] as string, reply[i + 1] as string);
    return { covered: Number(reply[0]), fields };
  }

  private leaseKey(runId: string): string {
    return `${this.keys(runId)[0]}:lister`;
  }
}
