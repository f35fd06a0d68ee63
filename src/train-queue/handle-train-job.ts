import { ensureBackbone } from '../model/backbone-fetch.js';
import { backboneHash } from '../model/backbone.js';
import { defaultFeatureDir } from '../model/train/features.js';
import { defaultActivationDir } from '../model/finetune/activations.js';
import { loadConfig } from '../shared/config.js';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Redis } from 'ioredis';
import type { Logger } from '../shared/logger.js';
import type { TrainDeps } from './deps.js';
import { createTrainQueue, JOB_TRAIN_MERGE, JOB_TRAIN_SHARD } from './jobs.js';
import { runMerge } from './merge-job.js';
import { RoundStore } from './round-store.js';
import { runShard } from './shard-job.js';
import type { MergeJobData, ShardJobData } from './types.js';

/** What a train job needs from the process that runs it (a worker's context satisfies it). */
export interface TrainJobHost {
  s3: S3Client;
  redis: Redis;
  logger: Logger;
}

let deps: Promise<TrainDeps> | undefined;

/** Training deps from the worker context and the environment (CXR_FEATURE_DIR: feature cache). */
async function trainDeps(ctx: TrainJobHost, env: NodeJS.ProcessEnv = process.env): Promise<TrainDeps> {
  const { queuePrefix } = loadConfig(env);
  const logger = ctx.logger.child({ queue: 'train' });
  return {
    s3: ctx.s3,
    queue: createTrainQueue(ctx.redis, queuePrefix),
    rounds: new RoundStore(ctx.redis, queuePrefix),
    logger,
    features: {
      featureRoot: env.CXR_FEATURE_DIR || defaultFeatureDir(),
      activationRoot: defaultActivationDir(env),
      backboneHash: await backboneHash(),
      backboneDir: () => ensureBackbone(undefined, { logger }),
    },
    memo: new Map(),
  };
}

/** Runs one train-queue job: a shard of a round, or a round's merge. */
export async function handleTrainJob(
  ctx: TrainJobHost,
  job: { id?: string; name: string; data: unknown },
): Promise<unknown> {
  const d = await (deps ??= trainDeps(ctx));
  if (job.name === JOB_TRAIN_SHARD) {
    const r = await runShard(d, job.data as ShardJobData);
    return { epoch: r.epoch, shard: r.shard, samples: r.samples, seconds: r.seconds };
  }
  if (job.name === JOB_TRAIN_MERGE) return runMerge(d, job.data as MergeJobData);
  throw new Error(`unknown job name ${JSON.stringify(job.name)} on the train queue`);
}
