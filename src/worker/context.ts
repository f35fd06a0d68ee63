import type { S3Client } from '@aws-sdk/client-s3';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { loadConfig, redisTarget } from '../shared/config.js';
import { ConnectionWatch } from '../shared/connection-watch.js';
import { closeWithin } from '../shared/deadline.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { createRedis, createScoreQueue } from '../shared/queue.js';
import { RedisClaims } from '../shared/redis-claims.js';
import { createS3Client } from '../shared/s3/client.js';
import type { Claims } from '../shared/s3/put-if-absent.js';
import { RunStore } from '../run/index.js';
import type { PneumoniaClassifier } from '../model/classifier.js';
import type { HashSet } from '../model/hash-set.js';
import { resolveModelUri } from '../shared/model-pointer.js';
import { isNullEngine } from './engine-choice.js';
import { applySharpSettings, sharpSettings } from '../shared/image/sharp-settings.js';

/** What a worker process needs, built once from the environment and reused across jobs. */
export interface WorkerContext {
  s3: S3Client;
  redis: Redis;
  queue: Queue;
  store: RunStore;
  claims: Claims;
  logger: Logger;
  /**
   * false: batches are scored without downloading or decoding their objects (CXR_NULL_IMAGES=skip on the
   * null engine: scale tests and benchmarks of the orchestration). Decided once, from the environment.
   */
  readImages: boolean;
  /**
   * TEST-ONLY: CXR_TEST_CRASH_MARKER's bytes. A sandbox decoding an object that holds them kills itself with
   * SIGSEGV, as a crashing native decoder would (the poison-object fault case). Absent unless the variable is set.
   */
  crashMarker?: Buffer;
  /**
   * This process scores one batch at a time (a sandboxed slot), so its CPU between a batch's stages is that
   * batch's: recorded per stage in the part meta. False where slots share the process (--inference shared).
   */
  stageCpu: boolean;
  classifier(): Promise<PneumoniaClassifier>;
  /** The model's training and validation image hashes (data-hashes.bin), when it ships them; loaded once. */
  trainingSet?(): Promise<HashSet | undefined>;
  /** How long this process took to load its model, the first time it is asked after the load; else 0. */
  takeColdStartMs(): number;
  /** Closes its queue, Redis connection and S3 client, within CONTEXT_CLOSE_MS: a Redis connection left open keeps the process alive, reconnecting. */
  close(): Promise<void>;
}

/** How long closing a context's queue may take (it talks to Redis, which may be gone) before its connection is cut. */
export const CONTEXT_CLOSE_MS = 2000;

/**
 * The hash set shipped beside the model CXR_MODEL_URI names (a promoted pointer resolved first), if any.
 * Asked for after the classifier loaded, so its imports (the model IO modules) are already in memory.
 */
export async function loadWorkerTrainingSet(env: NodeJS.ProcessEnv, s3: S3Client): Promise<HashSet | undefined> {
  const [{ defaultModelDir }, { localModelDir }, { loadModelHashSet }] = await Promise.all([
    import('../model/classifier.js'),
    import('../model/io/s3-io.js'),
    import('../model/hash-set-file.js'),
  ]);
  const modelUri = (await resolveModelUri(s3, env.CXR_MODEL_URI || undefined)) ?? defaultModelDir();
  return loadModelHashSet(await localModelDir(modelUri, s3));
}

/** The classifier CXR_ENGINE and CXR_MODEL_URI name (a promoted pointer is resolved first). */
export async function loadWorkerClassifier(
  env: NodeJS.ProcessEnv,
  s3: S3Client,
  logger: Logger,
): Promise<PneumoniaClassifier> {
  const modelUri = await resolveModelUri(s3, env.CXR_MODEL_URI || undefined);
  // Loaded on first use: a sandbox that only finalizes or settles never pays for TF.js or ONNX Runtime.
  if (isNullEngine(env.CXR_ENGINE))
    return (await import('./null-classifier.js')).loadNullClassifier({ modelUri, s3, env });
  const { loadEngine, parseEngine } = await import('../model/engine.js');
  return loadEngine({ engine: parseEngine(env.CXR_ENGINE), modelUri, s3, logger });
}

/**
 * The context of a sandboxed process, or (`--inference shared`) of the worker process itself: then `watch` is
 * the worker's, so that its Redis state lines are logged once for the process, not once per connection owner.
 */
export function contextFromEnv(env: NodeJS.ProcessEnv = process.env, watch?: ConnectionWatch): WorkerContext {
  const config = loadConfig(env);
  // Process-wide, before the first decode: how much libvips keeps between batches (sharp-settings.ts).
  applySharpSettings(sharpSettings(env));
  const logger = createLogger({ role: 'worker' });
  const redis = createRedis(redisTarget(config));
  const watching = (watch ?? new ConnectionWatch(logger, config.redisUrl)).attach(redis);
  const queue = createScoreQueue(redis, config.queuePrefix, env);
  const s3 = createS3Client(config.s3);
  let model: Promise<PneumoniaClassifier> | undefined;
  let trainingSet: Promise<HashSet | undefined> | undefined;
  let coldStartMs = 0;
  const load = async () => {
    const t = performance.now();
    const m = await loadWorkerClassifier(env, s3, logger);
    coldStartMs = Math.round(performance.now() - t);
    logger.info(
      { ms: coldStartMs, model: m.info.id, backend: m.backend },
      `model loaded in ${(coldStartMs / 1000).toFixed(1)} s`,
    );
    return m;
  };
  return {
    s3,
    redis,
    queue,
    store: new RunStore(redis, config.queuePrefix),
    claims: new RedisClaims(redis, config.queuePrefix),
    logger,
    readImages: !(isNullEngine(env.CXR_ENGINE) && env.CXR_NULL_IMAGES === 'skip'),
    ...(env.CXR_TEST_CRASH_MARKER ? { crashMarker: Buffer.from(env.CXR_TEST_CRASH_MARKER) } : {}),
    stageCpu: true,
    classifier: () => (model ??= load()),
    trainingSet: () => (trainingSet ??= loadWorkerTrainingSet(env, s3)),
    takeColdStartMs: () => {
      const ms = coldStartMs;
      coldStartMs = 0;
      return ms;
    },
    async close() {
      await closeWithin(CONTEXT_CLOSE_MS, () => queue.close());
      watching.detach(redis);
      redis.disconnect();
      s3.destroy();
    },
  };
}
