import { readFileSync } from 'node:fs';
import path from 'node:path';
import { QueueEvents } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { createRun } from '../../src/run/create-run.js';
import { createLogger } from '../../src/shared/logger.js';
import { createScoreQueue } from '../../src/shared/queue.js';
import { batchJobId } from '../../src/run/batching.js';
import { RunStore } from '../../src/run/run-store.js';
import { RedisClaims } from '../../src/shared/redis-claims.js';
import { putObject } from '../../src/shared/s3/objects.js';
import { startWorkers } from '../../src/worker/start-worker.js';
import { datasetFiles } from '../helpers/dataset.js';
import { childEnv, freshBucket, testConfig, testRedis, testS3 } from '../helpers/services.js';
import { waitFor } from '../helpers/cli.js';

describe('a batch that runs longer than the job lock', () => {
  const cleanup: (() => Promise<unknown> | void)[] = [];
  afterAll(async () => {
    for (const f of cleanup.reverse()) await f();
  });

  it('completes once, with no stall and no second run', async () => {
    const config = testConfig();
    // The sandboxed processes read these. TF.js/WASM keeps the batch well beyond the lock (ONNX Runtime can score 8 images in under 3 s).
    Object.assign(process.env, childEnv(config), { CXR_ENGINE: 'tfjs' });
    const s3 = testS3(config);
    const redis = testRedis(config);
    const queue = createScoreQueue(redis, config.queuePrefix);
    const events = new QueueEvents('score', { connection: testRedis(config), prefix: config.queuePrefix });
    cleanup.push(
      () => s3.destroy(),
      () => redis.disconnect(),
      () => queue.close(),
      () => events.close(),
    );
    const bucket = await freshBucket(s3);
    for (const f of datasetFiles('PNEUMONIA', 8, 100))
      await putObject(s3, bucket, `lock/PNEUMONIA/${path.basename(f)}`, readFileSync(f), 'image/jpeg');

    const stalled: string[] = [];
    events.on('stalled', ({ jobId }) => stalled.push(jobId));
    await events.waitUntilReady();
    const logger = createLogger({ test: 'lock' });
    const lockDurationMs = 1000;
    const [worker] = startWorkers({
      redisUrl: config.redisUrl,
      prefix: config.queuePrefix,
      logger,
      concurrency: 1,
      lockDurationMs,
    });
    worker.on('stalled', (id) => stalled.push(id));
    cleanup.push(() => worker.close());

    const store = new RunStore(redis, config.queuePrefix);
    await createRun(
      { s3, queue, store, claims: new RedisClaims(redis, config.queuePrefix), logger },
      { runId: 'lock-run', source: { bucket, prefix: 'lock/' }, out: { bucket, prefix: 'out' }, batchSize: 8 },
    );
    // The run is marked done inside the batch's processor, a moment before BullMQ marks the job completed.
    await waitFor('the run to finish and its job to complete', async () => {
      if ((await store.get('lock-run'))?.status !== 'done') return undefined;
      return (await (await queue.getJob(batchJobId('lock-run', 0)))?.getState()) === 'completed' ? true : undefined;
    });

    const job = (await queue.getJob(batchJobId('lock-run', 0)))!;
    expect(job.finishedOn! - job.processedOn!).toBeGreaterThan(3 * lockDurationMs);
    expect(job.attemptsStarted).toBe(1);
    expect(job.stalledCounter).toBe(0);
    expect(await job.getState()).toBe('completed');
    expect(stalled).toEqual([]);
    expect(await store.get('lock-run')).toMatchObject({ scored: 8, failed: 0, doneBatches: 1 });
  });
});
