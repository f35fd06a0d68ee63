import type { S3Client } from '@aws-sdk/client-s3';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { loadConfig, type Config } from '../shared/config.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { createRedis, createScoreQueue } from '../shared/queue.js';
import { createS3Client } from '../shared/s3/client.js';
import { RunStore } from '../shared/run/run-store.js';

export interface GlobalFlags {
  redisUrl?: string;
  s3Endpoint?: string;
  region?: string;
  pathStyle?: boolean;
}

export function configFrom(flags: GlobalFlags, env: NodeJS.ProcessEnv = process.env): Config {
  return loadConfig(env, {
    REDIS_URL: flags.redisUrl,
    S3_ENDPOINT: flags.s3Endpoint,
    AWS_REGION: flags.region,
    S3_FORCE_PATH_STYLE: flags.pathStyle === undefined ? undefined : String(flags.pathStyle),
  });
}

export interface Runtime {
  config: Config;
  s3: S3Client;
  redis: Redis;
  queue: Queue;
  store: RunStore;
  logger: Logger;
  close(): Promise<void>;
}

/** Connections for producer-side commands; close() releases them so the process can exit. */
export function openRuntime(config: Config, role: string): Runtime {
  const redis = createRedis(config.redisUrl);
  const queue = createScoreQueue(redis, config.queuePrefix);
  const s3 = createS3Client(config.s3);
  return {
    config,
    s3,
    redis,
    queue,
    store: new RunStore(redis, config.queuePrefix),
    logger: createLogger({ role }),
    async close() {
      await queue.close();
      redis.disconnect();
      s3.destroy();
    },
  };
}
