import { Worker, type Job } from 'bullmq';
import { redisTarget, type Config } from '../shared/config.js';
import type { ConnectionWatch } from '../shared/connection-watch.js';
import type { Logger } from '../shared/logger.js';
import { createRedis, createScoreQueue, queueErrorsTo } from '../shared/queue.js';
import { RunStore } from '../run/index.js';
import { RedisClaims } from '../shared/redis-claims.js';
import { decidingRetries } from '../shared/retry-decision.js';
import { createS3Client } from '../shared/s3/client.js';
import { productionCamProvider } from '../report/cam-provider.js';
import { dateIn, firingMillis } from './firing.js';
import { runEvaluation } from './run-eval.js';
import { EVAL_QUEUE, JOB_EVAL, type EvalJobData } from './types.js';

/**
 * Evaluations run in this process, not in a sandboxed score slot: they only do I/O and wait for
 * their scoring run, so a worker with one score slot can still score the evaluation's batches.
 */
export function startEvalWorker(config: Config, logger: Logger, watch?: ConnectionWatch): Worker {
  const redis = createRedis(redisTarget(config));
  const connection = createRedis(redisTarget(config));
  for (const c of [redis, connection]) {
    if (watch) watch.attach(c);
    else c.on('error', () => undefined);
  }
  const s3 = createS3Client(config.s3);
  const queue = createScoreQueue(redis, config.queuePrefix);
  const store = new RunStore(redis, config.queuePrefix);
  const deps = {
    s3,
    queue,
    store,
    claims: new RedisClaims(redis, config.queuePrefix),
    logger,
    camModel: productionCamProvider(s3),
  };
  const worker = new Worker(
    EVAL_QUEUE,
    decidingRetries(async (job: Job) => {
      if (job.name !== JOB_EVAL) throw new Error(`unknown job name ${JSON.stringify(job.name)} on the eval queue`);
      const data = job.data as EvalJobData;
      const date = dateIn(firingMillis(job.id, job.timestamp), data.tz);
      const entry = await runEvaluation(deps, data, date);
      return { date, runId: entry.runId, alerts: entry.alerts.length };
    }),
    { connection, prefix: config.queuePrefix, concurrency: 1 },
  );
  // Connection errors are the watch's to report (once); an unheard 'error' would print the whole error object.
  queueErrorsTo(worker, (err) => logger.error({ err: err.message }, 'eval worker error'));
  worker.on('closed', () => {
    for (const c of [redis, connection]) watch?.detach(c);
    void queue.close().finally(() => {
      redis.disconnect();
      connection.disconnect();
      s3.destroy();
    });
  });
  return worker;
}
