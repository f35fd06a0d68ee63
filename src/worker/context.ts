import type { S3Client } from '@aws-sdk/client-s3';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { loadConfig } from '../shared/config.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { createRedis, createScoreQueue } from '../shared/queue.js';
import { createS3Client } from '../shared/s3/client.js';
import { RunStore } from '../shared/run/run-store.js';
import type { PneumoniaClassifier } from '../model/classifier.js';
import { loadEngine, parseEngine } from '../model/engine.js';
import { resolveModelUri } from '../train-queue/model-pointer.js';

/** What a worker process needs, built once from the environment and reused across jobs. */
export interface WorkerContext {
  s3: S3Client;
  redis: Redis;
  queue: Queue;
  store: RunStore;
  logger: Logger;
  classifier(): Promise<PneumoniaClassifier>;
}

export function contextFromEnv(env: NodeJS.ProcessEnv = process.env): WorkerContext {
  const config = loadConfig(env);
  const logger = createLogger({ role: 'worker' });
  const redis = createRedis(config.redisUrl);
  const s3 = createS3Client(config.s3);
  let model: Promise<PneumoniaClassifier> | undefined;
  return {
    s3,
    redis,
    queue: createScoreQueue(redis, config.queuePrefix),
    store: new RunStore(redis, config.queuePrefix),
    logger,
    // CXR_MODEL_URI may name a promoted pointer (s3://B/models/production/pointer.json): resolved once per process.
    classifier: () => (model ??= resolveModelUri(s3, env.CXR_MODEL_URI || undefined).then((modelUri) => loadEngine({ engine: parseEngine(env.CXR_ENGINE), modelUri, s3, logger }))),
  };
}
