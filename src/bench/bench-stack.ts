import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { loadConfig, type Config } from '../shared/config.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { createRedis, createScoreQueue } from '../shared/queue.js';
import { RedisClaims } from '../shared/redis-claims.js';
import { RunStore } from '../run/index.js';
import { ensureBucket } from '../shared/s3/bucket.js';
import { createS3Client } from '../shared/s3/client.js';
import { ensureLocalStack } from '../shared/services/local-stack.js';
import { ConnectionWatch } from '../shared/connection-watch.js';
import { closeWithin } from '../shared/deadline.js';
import { FORCE_CLOSE_MS } from '../worker/drain.js';

export interface BenchStack {
  config: Config;
  logger: Logger;
  s3: S3Client;
  redis: Redis;
  /** The state of `redis` and of the connections of workers started with it (startWorkers' `watch`). */
  watch: ConnectionWatch;
  queue: Queue;
  store: RunStore;
  claims: RedisClaims;
  bucket: string;
}

/**
 * Runs `body` against REDIS_URL / S3_ENDPOINT, or a private redis-server and S3 server, under a queue prefix
 * of its own; this process's environment then points workers started here at them. Stops them after, every
 * close within a deadline: a bench may end because its Redis is gone.
 */
export async function withBenchStack<T>(stem: string, bucket: string, body: (b: BenchStack) => Promise<T>): Promise<T> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `cxr-bench-${stem}-`));
  const stack = await ensureLocalStack(process.env, dataDir);
  const config = loadConfig({
    ...process.env,
    REDIS_URL: stack.redisUrl,
    S3_ENDPOINT: stack.s3Endpoint,
    CXR_QUEUE_PREFIX: `${stem}${Date.now()}`,
  });
  Object.assign(process.env, {
    REDIS_URL: config.redisUrl,
    S3_ENDPOINT: config.s3.endpoint,
    CXR_QUEUE_PREFIX: config.queuePrefix,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  });
  const s3 = createS3Client(config.s3);
  const logger = createLogger({ role: 'bench' });
  const redis = createRedis(config.redisUrl);
  // Attached before the connection is ready, or the watch would never see it so.
  const watch = new ConnectionWatch(logger, config.redisUrl).attach(redis);
  const queue = createScoreQueue(redis, config.queuePrefix);
  try {
    await ensureBucket(s3, bucket);
    const store = new RunStore(redis, config.queuePrefix);
    return await body({
      config,
      logger,
      s3,
      redis,
      watch,
      queue,
      store,
      claims: new RedisClaims(redis, config.queuePrefix),
      bucket,
    });
  } finally {
    watch.detach(redis); // closed on purpose below: not an outage to log
    // Closing the queue talks to Redis, which may be gone (the bench ends because it is): a deadline, then cut.
    await closeWithin(FORCE_CLOSE_MS, () => queue.close());
    redis.disconnect();
    s3.destroy();
    await stack.stop(); // each server gets SIGTERM, then SIGKILL after 5 s
    rmSync(dataDir, { recursive: true, force: true });
  }
}
