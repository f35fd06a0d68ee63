import type { S3Client } from '@aws-sdk/client-s3';
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/shared/config.js';
import { createScoreQueue, SCORE_QUEUE } from '../../src/shared/queue.js';
import { putObject } from '../../src/shared/s3/objects.js';
import { TRAIN_QUEUE } from '../../src/train-queue/jobs.js';
import { runCli, startCliWorker, stopProcess, waitFor } from '../helpers/cli.js';
import { childEnv, freshBucket, testConfig, testRedis, testS3 } from '../helpers/services.js';
import { find, kedaMetrics, renderOverlay, type Doc } from '../infra/k8s/manifests.js';

/**
 * KEDA wakes the pools for every kind of runnable job: the triggers of the rendered gpu overlay, each
 * evaluated with the query KEDA's redis scaler runs (kedaListLength), against a real Redis, while no
 * worker runs (the pool at zero). The old triggers (wait and active lists only) read 0 in both cases.
 */
describe('KEDA wakes the pool from zero', () => {
  let config: Config;
  let redis: Redis;
  let s3: S3Client;
  let docs: Doc[];
  let manifestPrefix: string;
  const cleanup: (() => unknown)[] = [];
  beforeAll(() => {
    config = testConfig();
    redis = testRedis(config);
    s3 = testS3(config);
    docs = renderOverlay('gpu');
    manifestPrefix = find(docs, 'ConfigMap', 'cxr-config').data.CXR_QUEUE_PREFIX;
  });
  afterAll(async () => {
    for (const f of cleanup.reverse()) await f();
    redis?.disconnect();
    s3?.destroy();
  });

  const metrics = async (scaledObject: string) => {
    const ms = await kedaMetrics(redis, find(docs, 'ScaledObject', scaledObject), manifestPrefix, config.queuePrefix);
    return { values: Object.fromEntries(ms.map((m) => [m.name, m.value])), active: ms.some((m) => m.active) };
  };
  const idle = { wait: 0, active: 0, prioritized: 0, delayed: 0 };

  it('for a `cxr score --resume` whose only work is the finalize', async () => {
    const bucket = await freshBucket(s3, 'keda');
    const runId = 'keda-finalize-only';
    // A labelled 4-key manifest; the null engine scores keys without reading them (no objects needed).
    const lines = ['NORMAL/a.png', 'NORMAL/b.png', 'PNEUMONIA/c.png', 'PNEUMONIA/d.png'].map((k) =>
      JSON.stringify({ key: k, label: k.split('/')[0] }),
    );
    await putObject(s3, bucket, 'input/keys.jsonl', lines.join('\n') + '\n', 'application/x-ndjson');
    const env = { ...childEnv(config), CXR_ENGINE: 'null', CXR_NULL_IMAGES: 'skip' };
    const runStatus = async () => (await redis.hget(`${config.queuePrefix}:run:${runId}`, 'status')) ?? undefined;

    // A whole run, scored and finalized, then the pool goes to zero.
    let worker = startCliWorker(['--concurrency', '1'], env);
    cleanup.push(() => stopProcess(worker));
    await runCli(
      [
        'score',
        `s3://${bucket}/src/`,
        '--manifest',
        `s3://${bucket}/input/keys.jsonl`,
        '--out',
        `s3://${bucket}/out`,
        '--run-id',
        runId,
        '--batch-size',
        '2',
      ],
      env,
    );
    await waitFor('the run to finish', async () => ((await runStatus()) === 'done' ? true : undefined), 180_000);
    await waitFor(
      'the queue to empty',
      async () => ((await metrics('cxr-worker')).active ? undefined : true),
      30_000,
      200,
    );
    await stopProcess(worker);
    expect(await metrics('cxr-worker')).toEqual({ values: idle, active: false }); // KEDA may scale to zero

    // Nothing is missing: the resume's only job is the finalize, added with a priority.
    const resumed = await runCli(['score', '--resume', runId], env);
    expect(resumed.stderr).toMatch(/: 0 keys without a prediction re-enqueued in 0 of 2 batches/);
    const woken = await metrics('cxr-worker');
    expect(woken.values).toEqual({ ...idle, prioritized: 1 }); // wait and active (the old triggers) read 0
    expect(woken.active).toBe(true);

    // The pod KEDA starts runs it, and the pool can go back to zero.
    worker = startCliWorker(['--concurrency', '1'], env);
    await waitFor(
      'the finalize to run',
      async () => ((await metrics('cxr-worker')).active ? undefined : true),
      180_000,
      200,
    );
    expect(await runStatus()).toBe('done');
    await stopProcess(worker);
  });

  it('for a batch retry in backoff that is due, which no worker promotes while none runs', async () => {
    const backoffMs = 1500;
    const queue = createScoreQueue(redis.duplicate(), config.queuePrefix, { CXR_BATCH_BACKOFF_MS: String(backoffMs) });
    cleanup.push(() => queue.close());
    const job = await queue.add('batch', { keda: true }, { jobId: 'keda-retry' });
    // The first attempt fails (as a batch does when S3 is down): BullMQ moves it to delayed for its backoff.
    const failing = new Worker(
      SCORE_QUEUE,
      async () => {
        throw new Error('S3 unreachable');
      },
      { connection: redis.duplicate(), prefix: config.queuePrefix, autorun: true },
    );
    await waitFor(
      'the retry in backoff',
      async () => ((await queue.getJob(job.id!))?.attemptsMade === 1 ? true : undefined),
      30_000,
      20,
    );
    await failing.close(); // before its backoff ends, so the job is not retried here
    expect(await (await queue.getJob(job.id!))!.getState()).toBe('delayed');
    await new Promise((r) => setTimeout(r, backoffMs + 500)); // past its backoff: due
    expect(await (await queue.getJob(job.id!))!.getState()).toBe('delayed');
    const woken = await metrics('cxr-worker');
    expect(woken.values).toEqual({ ...idle, delayed: 1 }); // wait and active (the old triggers) read 0
    expect(woken.active).toBe(true);

    const ok = new Worker(SCORE_QUEUE, async () => 'scored', {
      connection: redis.duplicate(),
      prefix: config.queuePrefix,
    });
    cleanup.push(() => ok.close());
    await waitFor(
      'the retry to complete',
      async () => ((await (await queue.getJob(job.id!))!.getState()) === 'completed' ? true : undefined),
      30_000,
      100,
    );
    expect(await metrics('cxr-worker')).toEqual({ values: idle, active: false });
  });

  it('the trainer pool for a merge job (added with a priority) with no shard job left', async () => {
    const queue = new Queue(TRAIN_QUEUE, { connection: redis.duplicate(), prefix: config.queuePrefix });
    cleanup.push(() => queue.close());
    expect((await metrics('cxr-trainer')).active).toBe(false);
    await queue.add('merge', {}, { priority: 1 });
    expect(await metrics('cxr-trainer')).toEqual({ values: { ...idle, prioritized: 1 }, active: true });
    expect((await metrics('cxr-worker')).active).toBe(false); // the score pool stays at zero
  });
});
