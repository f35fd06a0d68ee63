import { randomUUID } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRun,
  finalizeRun,
  readRunMetrics,
  resumeRun,
  RunStore,
  type FailureLine,
  type RunDeps,
  type SettleJobData,
} from '../../src/run/index.js';
import { mergeRun } from '../../src/run/merge-run.js';
import { loadRunRecord, readManifest } from '../../src/run/run-record.js';
import { createLogger } from '../../src/shared/logger.js';
import { createScoreQueue, JOB_SETTLE } from '../../src/shared/queue.js';
import { RedisClaims } from '../../src/shared/redis-claims.js';
import { putObject } from '../../src/shared/s3/objects.js';
import { handleScoreJob } from '../../src/worker/handle-job.js';
import type { WorkerContext } from '../../src/worker/context.js';
import { loadNullClassifier } from '../../src/worker/null-classifier.js';
import { freshBucket, testConfig, testRedis, testS3 } from '../helpers/services.js';
import { runOutputs } from '../helpers/run-outputs.js';

/**
 * The run's coordination, in process and in seconds: createRun, the worker's handleScoreJob (null engine, no
 * image reads), record, settle, finalize and resume against a real redis-server and S3 server, with the
 * queue drained by hand so a test can crash a step, lose Redis or let a lease lapse at an exact point.
 * The fault suite proves the same cases end to end with real processes; these pin the logic down fast.
 */

const KEYS = 23; // batches of 4: 6 batches, the last one short; 2 batches a manifest shard: 3 shards

interface Harness extends RunDeps {
  redis: Redis;
  prefix: string;
  ctx: WorkerContext;
}

let s3: S3Client;
let bucket: string;
const open: Harness[] = [];

async function harness(): Promise<Harness> {
  const config = testConfig();
  const redis = testRedis(config);
  const queue = createScoreQueue(redis, config.queuePrefix, {});
  const store = new RunStore(redis, config.queuePrefix);
  const logger = createLogger({ test: 'coordination' }, { write: () => true });
  const classifier = loadNullClassifier({ env: {} });
  const deps = { s3, queue, store, claims: new RedisClaims(redis, config.queuePrefix), logger };
  // readImages false: the null engine scores keys without downloading them.
  const ctx: WorkerContext = {
    ...deps,
    redis,
    readImages: false,
    classifier: () => classifier,
    takeColdStartMs: () => 0,
  };
  const h = { ...deps, redis, prefix: config.queuePrefix, ctx };
  open.push(h);
  return h;
}

/** Source keys under a fresh prefix (the null engine never reads them, but the listing does). */
async function putSource(n = KEYS): Promise<{ prefix: string; keys: string[] }> {
  const prefix = `src-${randomUUID().slice(0, 8)}/`;
  const keys = Array.from(
    { length: n },
    (_, i) => `${prefix}${i % 3 ? 'NORMAL' : 'PNEUMONIA'}/img-${String(i).padStart(3, '0')}.jpeg`,
  );
  await Promise.all(keys.map((k) => putObject(s3, bucket, k, 'x', 'image/jpeg')));
  return { prefix, keys };
}

const request = (runId: string, prefix: string) => ({
  runId,
  source: { bucket, prefix },
  out: { bucket, prefix: 'out' },
  batchSize: 4,
  batchesPerShard: 2,
});

/** How a test steps in on a job: 'crash' throws before the job ends (the job stays, started once more). */
type Intercept = (job: Job) => 'crash' | undefined | Promise<'crash' | undefined>;

/**
 * Runs the queue's jobs one at a time through the worker's handleScoreJob until none is left, as one worker
 * would; a job that throws stays in the queue with one more start (as a crashed attempt does). Returns
 * the results by job id.
 */
async function drain(h: Harness, intercept: Intercept = () => undefined): Promise<Map<string, unknown>> {
  const results = new Map<string, unknown>();
  const starts = new Map<string, number>();
  for (let guard = 0; guard < 500; guard++) {
    const [job] = await h.queue.getJobs(['prioritized', 'wait', 'delayed'], 0, 0, true);
    if (!job) return results;
    const started = (starts.get(job.id!) ?? 0) + 1;
    starts.set(job.id!, started);
    if ((await intercept(job)) === 'crash') continue;
    try {
      results.set(
        job.id!,
        await handleScoreJob(h.ctx, {
          id: job.id,
          name: job.name,
          data: job.data,
          attemptsStarted: started,
          opts: job.opts,
        }),
      );
      await job.remove();
    } catch (err) {
      if ((err as Error).name !== 'UnrecoverableError') throw err;
      // Attempts used up: the worker's failed handler records the batch by a settle job.
      await job.remove();
      const data: SettleJobData = { ...(job.data as SettleJobData), reason: (err as Error).message };
      await h.queue.add(JOB_SETTLE, data, { jobId: `${job.id}-settle` });
    }
  }
  throw new Error('the queue did not drain in 500 jobs');
}

/** Every source key in predictions ∪ failures exactly once; the failures' keys. */
async function outputs(
  runId: string,
  keys: readonly string[],
): Promise<{ predicted: string[]; failed: FailureLine[] }> {
  const out = await runOutputs(s3, { bucket, prefix: 'out' }, runId);
  expect([...out.predicted, ...out.failed.map((f) => f.key)].sort()).toEqual([...keys].sort());
  return out;
}

beforeAll(async () => {
  s3 = testS3(testConfig());
  bucket = await freshBucket(s3, 'coord');
});

afterAll(async () => {
  for (const h of open) {
    await h.queue.close();
    h.redis.disconnect();
  }
  s3.destroy();
});

describe('a run, coordinated in process', () => {
  it('scores every key once: create feeds the window, batches record, the last one asks for the finalize', async () => {
    const h = await harness();
    const { prefix, keys } = await putSource();
    const created = await createRun(h, request('plain', prefix));
    expect(created).toMatchObject({ how: 'created', keys: KEYS, batches: 6 });
    expect(await createRun(h, request('plain', prefix))).toMatchObject({ how: 'existed' });

    const results = await drain(h);
    expect(results.get('plain-finalize-g0')).toMatchObject({ state: 'done', counts: { scored: KEYS, failed: 0 } });
    expect(await h.store.get('plain')).toMatchObject({ status: 'done', doneBatches: 6, scored: KEYS, failed: 0 });
    expect((await outputs('plain', keys)).failed).toEqual([]);
    expect((await readRunMetrics(s3, { out: { bucket, prefix: 'out' }, runId: 'plain' }))?.counts.scored).toBe(KEYS);
  });

  it("a run created behind another run's full window is fed once there is room, and both end with every key once", async () => {
    const h = await harness();
    const [a, b] = [await putSource(), await putSource()];
    // A window of 2 batches: the first run fills it, so the second is created with none fed.
    await createRun(h, { ...request('first', a.prefix), maxQueuedBatches: 2 });
    await createRun(h, { ...request('second', b.prefix), maxQueuedBatches: 2 });
    expect((await h.store.get('second'))?.fed).toBe(0);
    // Both have batches behind the full window, the first run first.
    expect(await h.store.runsWaitingForWindow(8)).toEqual(['first', 'second']);

    const results = await drain(h);
    for (const [runId, keys] of [
      ['first', a.keys],
      ['second', b.keys],
    ] as const) {
      expect(results.get(`${runId}-finalize-g0`)).toMatchObject({ state: 'done', counts: { scored: KEYS } });
      expect((await outputs(runId, keys)).failed).toEqual([]);
    }
    expect(await h.store.runsWaitingForWindow(8)).toEqual([]);
  });

  it('a batch that crashed after writing its part runs again and is counted once', async () => {
    const h = await harness();
    const { prefix, keys } = await putSource();
    await createRun(h, request('crash', prefix));
    // Redis fails the batch's record once: the part is in S3, the count is not (a worker killed between the two).
    let failNext = true;
    const markBatchDone = h.store.markBatchDone.bind(h.store);
    h.store.markBatchDone = async (...args) => {
      if (failNext && args[1] === 2) {
        failNext = false;
        throw new Error('connection lost');
      }
      return markBatchDone(...args);
    };
    await expect(drain(h)).rejects.toThrow('connection lost');
    await drain(h); // the job is still queued: its second start scores it again
    expect(await h.store.get('crash')).toMatchObject({ status: 'done', doneBatches: 6, scored: KEYS, failed: 0 });
    expect((await outputs('crash', keys)).predicted).toHaveLength(KEYS);
  });

  it('a batch whose attempts are used up (crashes count) is settled: its keys fail alone, then resume re-scores only them', async () => {
    const h = await harness();
    const { prefix, keys } = await putSource();
    await createRun(h, request('exhausted', prefix));
    // Batch 1 crashes every time it starts, past its attempts; the settle job records its keys as failures.
    let crashes = 0;
    await drain(h, (job) => (job.id === 'exhausted-b000001' && crashes++ < 6 ? 'crash' : undefined));
    const state = await h.store.get('exhausted');
    expect(state).toMatchObject({ status: 'done-with-failures', scored: KEYS - 4, failed: 4 });
    const { failed } = await outputs('exhausted', keys);
    expect(failed.map((f) => f.stage)).toEqual(['batch', 'batch', 'batch', 'batch']);
    expect(failed[0].reason).toMatch(/attempts are used up/);

    const resumed = await resumeRun(h, 'exhausted');
    expect(resumed).toMatchObject({ generation: 1, missing: 4, batches: 1, totalBatches: 6, rebuilt: false });
    const results = await drain(h);
    expect(results.get('exhausted-finalize-g1')).toMatchObject({ state: 'done', counts: { scored: KEYS, failed: 0 } });
    expect((await outputs('exhausted', keys)).failed).toEqual([]);
  });

  it('Redis losing the run mid-way: the next record asks for a rebuild from S3 and the run ends with every key once', async () => {
    const h = await harness();
    const { prefix, keys } = await putSource();
    await createRun(h, request('lost', prefix));
    let batches = 0;
    const results = await drain(h, async (job) => {
      // Redis loses the run's keys (not the queue's) half-way: a restart without persistence, say.
      if (job.name === 'batch' && ++batches === 4)
        await h.redis.del(`${h.prefix}:run:lost`, `${h.prefix}:run:lost:done`, `${h.prefix}:run:lost:plan`);
      return undefined;
    });
    expect(results.get('lost-recover-g0')).toMatchObject({ kind: 'rebuilt' });
    expect(await h.store.get('lost')).toMatchObject({ status: 'done', scored: KEYS, failed: 0, doneBatches: 6 });
    expect((await outputs('lost', keys)).failed).toEqual([]);
  });

  it('finalizing again reads the merge checkpoints (no part), changes nothing, and a finished run is skipped', async () => {
    const h = await harness();
    const { prefix, keys } = await putSource();
    await createRun(h, request('again', prefix));
    await drain(h);
    const out = { bucket, prefix: 'out' };
    const before = await outputs('again', keys);
    expect(await finalizeRun(h, { runId: 'again', out, generation: 0 })).toEqual({
      kind: 'skipped',
      why: 'already done',
    });

    const record = await loadRunRecord(s3, await readManifest(s3, out, 'again'));
    const merged = await mergeRun(s3, record);
    expect(merged.shards).toEqual({ checkpointed: 3, merged: 0 });
    expect(merged.tally.state().scored).toBe(KEYS);
    expect(await outputs('again', keys)).toEqual(before);
  });

  it('a stale generation cannot be counted, and a repeated batch is counted once', async () => {
    const h = await harness();
    const { prefix } = await putSource();
    await createRun(h, request('stale', prefix));
    expect((await h.store.markBatchDone('stale', 0, 0, 4, 0)).outcome).toBe('counted');
    expect((await h.store.markBatchDone('stale', 0, 0, 4, 0)).outcome).toBe('already-counted');
    expect((await h.store.markBatchDone('stale', 1, 3, 4, 0)).outcome).toBe('stale');
    expect((await h.store.markBatchDone('nope', 0, 0, 4, 0)).outcome).toBe('unknown-run');
    expect(await h.store.startGeneration('stale', 1, [1], { scored: 4, failed: 0 })).toBe('started');
    expect(await h.store.startGeneration('stale', 1, [1], { scored: 4, failed: 0 })).toBe('already-started');
    expect((await h.store.markBatchDone('stale', 1, 0, 4, 0)).outcome).toBe('stale');
    expect((await h.store.markBatchDone('stale', 1, 1, 4, 0)).outcome).toBe('counted');
    expect(await h.store.get('stale')).toMatchObject({ generation: 1, scored: 8, doneBatches: 2 });
  });
});

describe('the listing lease', () => {
  it('is released and renewed only by its holder: a producer whose lease lapsed cannot end its successor', async () => {
    const h = await harness();
    expect(await h.store.lease('lease', 'a', 100)).toBe(true);
    expect(await h.store.lease('lease', 'b', 10_000)).toBe(false);
    await new Promise((r) => setTimeout(r, 150));
    expect(await h.store.lease('lease', 'b', 10_000)).toBe(true); // a lapsed; b takes over
    expect(await h.store.releaseLease('lease', 'a')).toBe(false);
    expect(await h.store.lease('lease', 'a', 10_000)).toBe(false); // b still holds it
    expect(await h.store.releaseLease('lease', 'b')).toBe(true);
    expect(await h.store.lease('lease', 'a', 10_000)).toBe(true);
  });

  it("a producer finding a dead producer's lease waits for it to lapse, then lists the run itself", async () => {
    const h = await harness();
    const { prefix, keys } = await putSource();
    await h.store.lease('lapsed', 'dead-producer', 600);
    const t = Date.now();
    const created = await createRun(h, request('lapsed', prefix));
    expect(Date.now() - t).toBeGreaterThanOrEqual(500);
    expect(created).toMatchObject({ how: 'created', keys: KEYS });
    expect(await h.redis.exists(`${h.prefix}:run:lapsed:lister`)).toBe(0); // released by its holder
    await drain(h);
    expect((await outputs('lapsed', keys)).failed).toEqual([]);
  });
});
