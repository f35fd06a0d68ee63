import { randomUUID } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { inject } from 'vitest';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '../../src/shared/config.js';
import { createS3Client } from '../../src/shared/s3/client.js';
import { ensureBucket } from '../../src/shared/s3/bucket.js';
import { useLocalS3Credentials } from '../../src/shared/services/s3-server.js';

/** Config pointing at the test services, with a queue prefix of its own so tests never share keys. */
export function testConfig(): Config {
  useLocalS3Credentials(process.env);
  return loadConfig({
    ...process.env,
    REDIS_URL: inject('redisUrl'),
    S3_ENDPOINT: inject('s3Endpoint'),
    CXR_QUEUE_PREFIX: `t${randomUUID().slice(0, 8)}`,
  });
}

/** Environment for child processes (workers, CLI) that should use the same services and prefix. */
export function childEnv(config: Config): NodeJS.ProcessEnv {
  return {
    ...process.env,
    REDIS_URL: config.redisUrl,
    S3_ENDPOINT: config.s3.endpoint,
    CXR_QUEUE_PREFIX: config.queuePrefix,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  };
}

export async function freshBucket(s3: S3Client, stem = 'cxr'): Promise<string> {
  const bucket = `${stem}-${randomUUID().slice(0, 12)}`;
  await ensureBucket(s3, bucket);
  return bucket;
}

export function testS3(config: Config): S3Client {
  return createS3Client(config.s3);
}

export function testRedis(config: Config): Redis {
  return new Redis(config.redisUrl, { maxRetriesPerRequest: null });
}
