import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/shared/config.js';
import { createRun } from '../../src/run/create-run.js';
import { createLogger } from '../../src/shared/logger.js';
import { createScoreQueue } from '../../src/shared/queue.js';
import { batchJobId } from '../../src/run/batching.js';
import { RunStore } from '../../src/run/run-store.js';
import { RedisClaims } from '../../src/shared/redis-claims.js';
import { createS3Client } from '../../src/shared/s3/client.js';
import { ensureBucket } from '../../src/shared/s3/bucket.js';
import { putObject } from '../../src/shared/s3/objects.js';
import { startS3Server } from '../../src/shared/services/s3-server.js';
import type { LocalService } from '../../src/shared/services/child-service.js';
import { startWorkers } from '../../src/worker/start-worker.js';
import { datasetFiles } from '../helpers/dataset.js';
import { childEnv, testConfig, testRedis } from '../helpers/services.js';
import { waitFor } from '../helpers/cli.js';

describe('a batch whose S3 server is down', () => {
  const cleanup: (() => Promise<unknown> | void)[] = [];
  afterAll(async () => {
    for (const f of cleanup.reverse()) await f();
  });

  it('fails as a whole, is retried with backoff, and completes once S3 is back', async () => {
    // A private S3 server, so stopping it does not disturb other tests.
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'cxr-retry-s3-'));
    let server: LocalService = await startS3Server(dataDir);
    cleanup.push(
      () => rmSync(dataDir, { recursive: true, force: true }),
      () => server.stop(),
    );
    const base = testConfig();
    const config = loadConfig({ ...childEnv(base), S3_ENDPOINT: server.url });
    Object.assign(process.env, childEnv(base), { S3_ENDPOINT: server.url });
    const s3 = createS3Client(config.s3);
    const redis = testRedis(config);
    const queue = createScoreQueue(redis, config.queuePrefix);
    const store = new RunStore(redis, config.queuePrefix);
    cleanup.push(
      () => s3.destroy(),
      () => redis.disconnect(),
      () => queue.close(),
    );
    await ensureBucket(s3, 'retry');
    for (const f of datasetFiles('NORMAL', 2, 50))
      await putObject(s3, 'retry', `in/NORMAL/${path.basename(f)}`, readFileSync(f), 'image/jpeg');
    const logger = createLogger({ test: 'retry' });
    await createRun(
      { s3, queue, store, claims: new RedisClaims(redis, config.queuePrefix), logger },
      {
        runId: 'retry-run',
        source: { bucket: 'retry', prefix: 'in/' },
        out: { bucket: 'retry', prefix: 'out' },
        batchSize: 2,
      },
    );

    await server.stop();
    const [worker] = startWorkers({ redisUrl: config.redisUrl, prefix: config.queuePrefix, logger, concurrency: 1 });
    cleanup.push(() => worker.close());
    const job = await waitFor(
      'a failed attempt',
      async () => {
        const j = await queue.getJob(batchJobId('retry-run', 0));
        return j && j.attemptsMade >= 1 ? j : undefined;
      },
      120_000,
      200,
    );
    expect(job.failedReason).toMatch(/ECONNREFUSED|connect|socket/i);
    expect(['delayed', 'waiting', 'active']).toContain(await job.getState());

    server = await startS3Server(dataDir, server.port);
    await waitFor(
      'the run to finish',
      async () => ((await store.get('retry-run'))?.status === 'done' ? true : undefined),
      180_000,
    );
    const done = (await queue.getJob(batchJobId('retry-run', 0)))!;
    expect(await done.getState()).toBe('completed');
    expect(done.attemptsMade).toBeGreaterThanOrEqual(1);
    expect(await store.get('retry-run')).toMatchObject({ scored: 2, failed: 0 });
  });
});
