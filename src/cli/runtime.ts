import type { S3Client } from '@aws-sdk/client-s3';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { loadConfig, redisTarget, type Config } from '../shared/config.js';
import { ConnectionWatch } from '../shared/connection-watch.js';
import { closeWithin } from '../shared/deadline.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { LogGate } from './log-gate.js';
import { createScoreQueue } from '../shared/queue.js';
import { connectRedis, redisHostPort } from '../shared/redis-connection.js';
import { noteRedis } from './errors.js';
import { RedisClaims } from '../shared/redis-claims.js';
import { createS3Client } from '../shared/s3/client.js';
import type { Claims } from '../shared/s3/put-if-absent.js';
import { RunStore } from '../run/index.js';

export interface GlobalFlags {
  redisUrl?: string;
  s3Endpoint?: string;
  region?: string;
  pathStyle?: boolean;
  sse?: string;
  sseKmsKeyId?: string;
}

export function configFrom(flags: GlobalFlags, env: NodeJS.ProcessEnv = process.env): Config {
  return loadConfig(env, {
    REDIS_URL: flags.redisUrl,
    S3_ENDPOINT: flags.s3Endpoint,
    AWS_REGION: flags.region,
    S3_FORCE_PATH_STYLE: flags.pathStyle === undefined ? undefined : String(flags.pathStyle),
    CXR_S3_SSE: flags.sse,
    CXR_S3_SSE_KMS_KEY_ID: flags.sseKmsKeyId,
  });
}

export interface Runtime {
  config: Config;
  s3: S3Client;
  redis: Redis;
  queue: Queue;
  store: RunStore;
  claims: Claims;
  logger: Logger;
  /** Holds this command's log lines (while a progress bar is drawn); the returned function prints them. */
  holdLogs(): () => void;
  close(): Promise<void>;
}

const RUNTIME_CLOSE_MS = 2000;

/**
 * Connections for commands that are not workers. Redis must answer within 5 s (CXR_REDIS_CONNECT_TIMEOUT_MS)
 * or the command ends with one line saying so; once connected, an outage is ridden out for 60 s
 * (CXR_REDIS_OUTAGE_MS) before commands fail. close() releases everything, within a deadline, so the process
 * can exit.
 */
export async function openRuntime(
  config: Config,
  role: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Runtime> {
  const gate = new LogGate();
  const logger = createLogger({ role }, gate);
  const ms = (name: string) => (env[name] ? Number(env[name]) : undefined);
  const redis = await connectRedis(redisTarget(config), {
    timeoutMs: ms('CXR_REDIS_CONNECT_TIMEOUT_MS'),
    outageMs: ms('CXR_REDIS_OUTAGE_MS'),
    keyPrefix: config.queuePrefix,
  });
  noteRedis(redisHostPort(config.redisUrl));
  const watch = new ConnectionWatch(logger, config.redisUrl).attach(redis);
  const queue = createScoreQueue(redis, config.queuePrefix, env);
  const s3 = createS3Client(config.s3);
  return {
    config,
    s3,
    redis,
    queue,
    store: new RunStore(redis, config.queuePrefix),
    claims: new RedisClaims(redis, config.queuePrefix),
    logger,
    holdLogs: () => gate.hold(),
    async close() {
      // Closing the queue talks to Redis, which may be gone: the connection is cut after RUNTIME_CLOSE_MS.
      await closeWithin(RUNTIME_CLOSE_MS, () => queue.close());
      watch.detach(redis);
      redis.disconnect();
      s3.destroy();
    },
  };
}
