import type { Redis } from 'ioredis';
import type { S3Location } from '../s3/uri.js';

export type RunStatus = 'running' | 'finalizing' | 'done';

export interface RunState {
  runId: string;
  status: RunStatus;
  createdAt: string;
  finishedAt?: string;
  source: string;
  out: S3Location;
  totalKeys: number;
  scored: number;
  failed: number;
  totalBatches: number;
  doneBatches: number;
}

export interface BatchDone {
  /** False when this batch had already been counted (a retry after success). */
  firstTime: boolean;
  doneBatches: number;
  totalBatches: number;
}

const MARK_DONE = `
local added = redis.call('SADD', KEYS[3], ARGV[1])
if added == 1 then
  redis.call('HINCRBY', KEYS[1], 'scored', ARGV[2])
  redis.call('HINCRBY', KEYS[1], 'failed', ARGV[3])
end
return {added, redis.call('SCARD', KEYS[3]), redis.call('SCARD', KEYS[2])}
`;

/** A run's progress in Redis: a hash of counters plus the sets of all and finished batch ids. */
export class RunStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private keys(runId: string) {
    const base = `${this.prefix}:run:${runId}`;
    return { hash: base, batches: `${base}:batches`, done: `${base}:done` };
  }

  /** Registers a run; returns false (and changes nothing) when it already exists. */
  async create(runId: string, init: { source: string; out: S3Location; totalKeys: number; createdAt: string }, batchIds: string[]): Promise<boolean> {
    const k = this.keys(runId);
    const created = await this.redis.hsetnx(k.hash, 'runId', runId);
    if (!created) return false;
    const multi = this.redis.multi();
    multi.hset(k.hash, {
      status: 'running',
      createdAt: init.createdAt,
      source: init.source,
      out: JSON.stringify(init.out),
      totalKeys: init.totalKeys,
      scored: 0,
      failed: 0,
    });
    if (batchIds.length) multi.sadd(k.batches, ...batchIds);
    await multi.exec();
    return true;
  }

  async get(runId: string): Promise<RunState | undefined> {
    const k = this.keys(runId);
    const [[, h], [, total], [, done]] = (await this.redis.multi().hgetall(k.hash).scard(k.batches).scard(k.done).exec()) as [
      [unknown, Record<string, string>],
      [unknown, number],
      [unknown, number],
    ];
    if (!h || !h.runId) return undefined;
    return {
      runId: h.runId,
      status: h.status as RunStatus,
      createdAt: h.createdAt,
      finishedAt: h.finishedAt || undefined,
      source: h.source,
      out: JSON.parse(h.out) as S3Location,
      totalKeys: Number(h.totalKeys),
      scored: Number(h.scored),
      failed: Number(h.failed),
      totalBatches: total,
      doneBatches: done,
    };
  }

  async isBatchDone(runId: string, batchId: string): Promise<boolean> {
    return (await this.redis.sismember(this.keys(runId).done, batchId)) === 1;
  }

  async doneBatchIds(runId: string): Promise<Set<string>> {
    return new Set(await this.redis.smembers(this.keys(runId).done));
  }

  /** Counts a finished batch once, however often it is retried. */
  async markBatchDone(runId: string, batchId: string, scored: number, failed: number): Promise<BatchDone> {
    const k = this.keys(runId);
    const [added, done, total] = (await this.redis.eval(MARK_DONE, 3, k.hash, k.batches, k.done, batchId, scored, failed)) as number[];
    return { firstTime: added === 1, doneBatches: done, totalBatches: total };
  }

  /** Re-opens a finished or partial run with extra batches; counters restart from what is already scored. */
  async resume(runId: string, batchIds: string[], alreadyScored: number): Promise<void> {
    const k = this.keys(runId);
    const multi = this.redis.multi().hset(k.hash, { status: 'running', scored: alreadyScored, failed: 0 }).hdel(k.hash, 'finishedAt');
    if (batchIds.length) multi.sadd(k.batches, ...batchIds);
    await multi.exec();
  }

  async setStatus(runId: string, status: RunStatus, finishedAt?: string): Promise<void> {
    const fields: Record<string, string> = { status };
    if (finishedAt) fields.finishedAt = finishedAt;
    await this.redis.hset(this.keys(runId).hash, fields);
  }
}
