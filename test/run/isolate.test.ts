import { randomUUID } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  batchItemsOf,
  createRun,
  readRunMetrics,
  resumeRun,
  RunStore,
  sliceOf,
  type BatchJobData,
  type PartMeta,
  type SettleJobData,
} from '../../src/run/index.js';
import { crashReason, processCrash } from '../../src/run/crash.js';
import { joinedMeta, readSliceRecords, splitSlice } from '../../src/run/isolate.js';
import { createLogger } from '../../src/shared/logger.js';
import { createScoreQueue, JOB_BATCH, JOB_SETTLE } from '../../src/shared/queue.js';
import { RedisClaims } from '../../src/shared/redis-claims.js';
import { putObject } from '../../src/shared/s3/objects.js';
import { handleScoreJob } from '../../src/worker/handle-job.js';
import type { WorkerContext } from '../../src/worker/context.js';
import { loadNullClassifier } from '../../src/worker/null-classifier.js';
import { freshBucket, testConfig, testRedis, testS3 } from '../helpers/services.js';
import { runOutputs } from '../helpers/run-outputs.js';

/**
 * Poison-object isolation (src/run/isolate.ts): the pure steps, then a run coordinated in process in which
 * one key "crashes the process" on every attempt (the queue is drained by hand, as BullMQ would run it: a
 * crash is a failed attempt whose reason is BullMQ's sandbox exit message). The fault suite's poison case
 * proves the same with a real sandbox killing itself.
 */

describe('isolation, pure', () => {
  it('reads only a sandboxed process exit as a crash, not other errors, a clean exit or a shutdown signal', () => {
    expect(processCrash('Unexpected exit code: null signal: SIGSEGV')).toEqual({ signal: 'SIGSEGV' });
    expect(processCrash('Unexpected exit code: 134 signal: null')).toEqual({ code: 134 });
    expect(processCrash('Unexpected exit code: null signal: SIGKILL')).toEqual({ signal: 'SIGKILL' });
    expect(processCrash('Unexpected exit code: null signal: SIGTERM')).toBeUndefined();
    expect(processCrash('Unexpected exit code: 0 signal: null')).toBeUndefined();
    expect(processCrash('connect ECONNREFUSED 127.0.0.1:9000')).toBeUndefined();
    expect(processCrash(undefined)).toBeUndefined();
    expect(crashReason({ signal: 'SIGSEGV' }, 3)).toBe('crashed the scoring process (signal SIGSEGV, 3 attempts)');
    expect(crashReason({ code: 134 }, 1)).toBe('crashed the scoring process (exit code 134, 1 attempt)');
  });

  it('halves a slice down to single keys, which are not split', () => {
    expect(splitSlice({ start: 0, end: 16 })).toEqual([
      { start: 0, end: 8 },
      { start: 8, end: 16 },
    ]);
    expect(splitSlice({ start: 4, end: 7 })).toEqual([
      { start: 4, end: 6 },
      { start: 6, end: 7 },
    ]);
    expect(splitSlice({ start: 5, end: 6 })).toBeUndefined();
  });

  it("joins slice records in key order; the joined meta sums the scored slices and counts the isolation's cost", () => {
    const meta = (images: number, startedAt: string, finishedAt: string): PartMeta => ({
      runId: 'r',
      batch: 3,
      generation: 0,
      images,
      scored: images,
      failed: 0,
      stageMs: { download: images, decode: 1, inference: 2, upload: 3 },
      backend: 'null',
      host: 'h',
      pid: 1,
      startedAt,
      finishedAt,
    });
    const fields = new Map([
      [
        '2-4',
        JSON.stringify({
          scored: 2,
          failed: 0,
          attempts: 1,
          meta: meta(2, '2026-01-01T00:00:05Z', '2026-01-01T00:00:06Z'),
        }),
      ],
      ['split:0-4', JSON.stringify({ attempts: 1 })],
      [
        '0-1',
        JSON.stringify({
          scored: 1,
          failed: 0,
          attempts: 1,
          meta: meta(1, '2026-01-01T00:00:03Z', '2026-01-01T00:00:04Z'),
        }),
      ],
      ['split:0-2', JSON.stringify({ attempts: 1 })],
      ['1-2', JSON.stringify({ scored: 0, failed: 1, attempts: 3 })],
    ]);
    const { slices, splitAttempts } = readSliceRecords(fields);
    expect(slices.map((s) => [s.slice.start, s.slice.end])).toEqual([
      [0, 1],
      [1, 2],
      [2, 4],
    ]);
    expect(splitAttempts).toEqual([1, 1]);
    const batch = { runId: 'r', batch: 3, source: { bucket: 'b', prefix: '' }, out: { bucket: 'b', prefix: 'o' } };
    expect(joinedMeta(batch, slices, splitAttempts)).toMatchObject({
      batch: 3,
      images: 3,
      scored: 3,
      failed: 1,
      stageMs: { download: 3, decode: 2, inference: 4, upload: 6 },
      startedAt: '2026-01-01T00:00:03Z',
      finishedAt: '2026-01-01T00:00:06Z',
      // 2 splits (1 crashed attempt each) + 3 slices (1, 3 and 1 attempts) = 7 attempts, 6 beyond the batch's one
      isolation: { splits: 2, extraAttempts: 6 },
    });
    expect(joinedMeta(batch, [slices[1]], [1])).toBeUndefined();
    // No slice recorded CPU per stage (--inference shared): the joined meta has none either.
    expect(joinedMeta(batch, slices, splitAttempts)).not.toHaveProperty('stageCpuMs');

    // Sandboxed slices record it: summed like the stage times, unless one slice lacks it.
    const withCpu = (m: PartMeta, k: number): PartMeta => ({
      ...m,
      stageCpuMs: { download: k, decode: 10 * k, inference: 100 * k, upload: 0.5 },
    });
    const cpuSlices = slices.map((s, i) => (s.meta ? { ...s, meta: withCpu(s.meta, i + 1) } : s));
    expect(joinedMeta(batch, cpuSlices, splitAttempts)?.stageCpuMs).toEqual({
      download: 4,
      decode: 40,
      inference: 400,
      upload: 1,
    });
    const oneWithout = cpuSlices.map((s, i) => (i === 0 && s.meta ? { ...s, meta: slices[0].meta } : s));
    expect(joinedMeta(batch, oneWithout, splitAttempts)).not.toHaveProperty('stageCpuMs');
  });
});

const KEYS = 23; // batches of 8: 3 batches, the last one short
const ATTEMPTS = 3;
const SEGV = 'Unexpected exit code: null signal: SIGSEGV';

let s3: S3Client;
let bucket: string;
/** What each harness opened, closed after all. */
const closers: (() => Promise<void>)[] = [];

async function harness() {
  const config = testConfig();
  const redis = testRedis(config);
  const queue = createScoreQueue(redis, config.queuePrefix, { CXR_BATCH_ATTEMPTS: String(ATTEMPTS) });
  const store = new RunStore(redis, config.queuePrefix);
  const logger = createLogger({ test: 'isolate' }, { write: () => true });
  const classifier = loadNullClassifier({ env: {} });
  const deps = { s3, queue, store, claims: new RedisClaims(redis, config.queuePrefix), logger };
  const ctx: WorkerContext = {
    ...deps,
    redis,
    readImages: false, // the null engine scores keys without reading them: the poison is a key, below
    classifier: () => classifier,
    takeColdStartMs: () => 0,
  };
  closers.push(async () => (await queue.close(), redis.disconnect()));
  return { ...deps, ctx };
}

type Harness = Awaited<ReturnType<typeof harness>>;

/**
 * Runs the queue's jobs one at a time as BullMQ would with sandboxes, except that a batch job whose keys
 * include a `poison` key crashes its process: a failed attempt with BullMQ's exit message, retried until its
 * attempts are used up, then settled (as the worker's failed handler does). Returns every job id run.
 */
async function drain(h: Harness, poison: ReadonlySet<string>): Promise<string[]> {
  const ran: string[] = [];
  const failures = new Map<string, number>();
  for (let guard = 0; guard < 500; guard++) {
    const [job] = await h.queue.getJobs(['prioritized', 'wait', 'delayed'], 0, 0, true);
    if (!job) return ran;
    ran.push(job.id!);
    const attemptsMade = failures.get(job.id!) ?? 0;
    if (job.name === JOB_BATCH) {
      const data = job.data as BatchJobData;
      const items = await batchItemsOf(s3, data);
      const { start, end } = sliceOf(data, items.length);
      const standing = await h.store.batchStanding(data.runId, data.batch, data.generation ?? 0);
      const crashes = standing === 'current' && items.slice(start, end).some((i) => poison.has(i.key));
      // A crash only when this attempt would score: the attempt after a crash splits a batch of several keys.
      if (crashes && (end - start === 1 || attemptsMade === 0)) {
        failures.set(job.id!, attemptsMade + 1);
        if (attemptsMade + 1 < ATTEMPTS) continue;
        await job.remove();
        const settle: SettleJobData = { ...data, reason: SEGV, attempts: ATTEMPTS, crash: { signal: 'SIGSEGV' } };
        await h.queue.add(JOB_SETTLE, settle, { jobId: `${job.id}-settle` });
        continue;
      }
    }
    await handleScoreJob(h.ctx, {
      id: job.id,
      name: job.name,
      data: job.data,
      attemptsStarted: attemptsMade + 1,
      attemptsMade,
      // As a sandbox sees it: BullMQ hands the job over as JSON, its failedReason JSON-encoded.
      failedReason: attemptsMade ? JSON.stringify(SEGV) : undefined,
      opts: job.opts,
    });
    await job.remove();
  }
  throw new Error('the queue did not drain in 500 jobs');
}

async function putSource(): Promise<{ prefix: string; keys: string[] }> {
  const prefix = `src-${randomUUID().slice(0, 8)}/`;
  const keys = Array.from({ length: KEYS }, (_, i) => `${prefix}NORMAL/img-${String(i).padStart(3, '0')}.jpeg`);
  await Promise.all(keys.map((k) => putObject(s3, bucket, k, 'x', 'image/jpeg')));
  return { prefix, keys };
}

const outputs = (runId: string) => runOutputs(s3, { bucket, prefix: 'out' }, runId);

beforeAll(async () => {
  s3 = testS3(testConfig());
  bucket = await freshBucket(s3, 'isolate');
});

afterAll(async () => {
  await Promise.all(closers.map((close) => close()));
  s3.destroy();
});

describe('a poison key in a run, coordinated in process', () => {
  it('fails alone with the crash reason; its batch neighbours are scored once; resume retries only it', async () => {
    const h = await harness();
    const { prefix, keys } = await putSource();
    const poison = keys[10]; // batch 1 (keys 8-15), its third key
    const request = {
      runId: 'poison',
      source: { bucket, prefix },
      out: { bucket, prefix: 'out' },
      batchSize: 8,
      batchesPerShard: 2,
    };
    await createRun(h, request);
    const ran = await drain(h, new Set([poison]));
    // batch 1 [0,8) -> [0,4) -> [2,4) -> [2,3): three splits; the other halves scored on their first attempt
    for (const s of ['s0-4', 's4-8', 's0-2', 's2-4', 's2-3', 's3-4']) expect(ran).toContain(`poison-b000001-${s}`);
    expect(ran).toContain('poison-b000001-s2-3-settle');

    const state = await h.store.get('poison');
    expect(state).toMatchObject({ status: 'done-with-failures', doneBatches: 3, scored: KEYS - 1, failed: 1 });
    const { predicted, failed } = await outputs('poison');
    expect([...predicted, ...failed.map((f) => f.key)].sort()).toEqual([...keys].sort());
    expect(failed).toEqual([
      expect.objectContaining({
        key: poison,
        stage: 'batch',
        reason: `crashed the scoring process (signal SIGSEGV, ${ATTEMPTS} attempts)`,
      }),
    ]);
    const metrics = await readRunMetrics(s3, { out: { bucket, prefix: 'out' }, runId: 'poison' });
    // attempts: the batch and 2 slices crashed once each before their split (3), 3 halves scored (3), the poison 3
    expect(metrics?.isolation).toEqual({ batches: 1, splits: 3, extraAttempts: 8, crashedObjects: 1 });

    // Resume re-runs only the failed key, in a new generation: it crashes alone again, nothing else is touched.
    expect(await resumeRun(h, 'poison')).toMatchObject({ generation: 1, missing: 1, batches: 1 });
    await drain(h, new Set([poison]));
    expect(await h.store.get('poison')).toMatchObject({ status: 'done-with-failures', scored: KEYS - 1, failed: 1 });
    expect((await outputs('poison')).failed.map((f) => f.key)).toEqual([poison]);

    // Once it no longer crashes (a fixed decoder), resume scores it: the run is done.
    await resumeRun(h, 'poison');
    await drain(h, new Set());
    expect(await h.store.get('poison')).toMatchObject({ status: 'done', scored: KEYS, failed: 0 });
    expect((await outputs('poison')).predicted.sort()).toEqual([...keys].sort());
  });
});
