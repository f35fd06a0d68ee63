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

export interface BenchStack {
  config: Config;
  logger: Logger;
  s3: S3Client;
  redis: Redis;
  queue: Queue;
  store: RunStore;
  claims: RedisClaims;
  bucket: string;
}

/**
 * Runs `body` against REDIS_URL / S3_ENDPOINT, or a private redis-server and S3 server, under a queue prefix
 * of its own; this process's environment then points workers started here at them. Stops them after.
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
  const redis = createRedis(config.redisUrl);
  const queue = createScoreQueue(redis, config.queuePrefix);
  try {
    await ensureBucket(s3, bucket);
    const store = new RunStore(redis, config.queuePrefix);
    return await body({
      config,
      logger: createLogger({ role: 'bench' }),
      s3,
      redis,
      queue,
      store,
      claims: new RedisClaims(redis, config.queuePrefix),
      bucket,
    });
  } finally {
    await queue.close();
    redis.disconnect();
    s3.destroy();
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
