import type { Command } from 'commander';
import type { Worker } from 'bullmq';
import { ConnectionWatch } from '../../shared/connection-watch.js';
import { exportSettings, redisTarget } from '../../shared/config.js';
import { connectRedis, RedisRefusedError, type RedisTarget } from '../../shared/redis-connection.js';
import { exitWithError, UserError } from '../../shared/errors.js';
import { createLogger, type Logger } from '../../shared/logger.js';
import { SCORE_QUEUE, STALLED } from '../../shared/queue.js';
import { startWorkers } from '../../worker/start-worker.js';
import { checkModel } from '../../worker/model-check.js';
import { isNullEngine } from '../../worker/engine-choice.js';
import { parseEngine } from '../../model/engine.js';
import { positiveInt } from '../parse.js';
import { configFrom, type GlobalFlags } from '../runtime.js';

interface WorkerFlags {
  concurrency?: number;
  queues: string;
  lockDuration: number;
  stalledInterval: number;
  model?: string;
  engine?: string;
}

/**
 * Waits for SIGINT/SIGTERM, then closes the workers: gracefully (running jobs finish) while Redis is
 * reachable; at once while it is not, since nothing could be recorded anyway. A second signal exits at once.
 */
function untilSignal(workers: Worker[], watch: ConnectionWatch, logger: Logger): Promise<void> {
  return new Promise<void>((resolve) => {
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) process.exit(1);
      stopping = true;
      const graceful = watch.connected;
      logger.info({ signal, graceful }, graceful ? 'closing workers (finishing jobs in progress)' : 'closing workers now (Redis unreachable)');
      const closed = Promise.all(workers.map((w) => w.close(!graceful)));
      await (graceful ? closed : Promise.race([closed, new Promise((r) => setTimeout(r, 2000))]));
      resolve();
    };
    process.on('SIGINT', () => void stop('SIGINT'));
    process.on('SIGTERM', () => void stop('SIGTERM'));
  });
}

/** Throws the one line when Redis refuses this worker (password, certificate, ACL); an outage is the watch's to wait out. */
async function refusedByRedis(target: RedisTarget, keyPrefix: string): Promise<void> {
  try {
    (await connectRedis(target, { timeoutMs: 2000, keyPrefix })).disconnect();
  } catch (err) {
    if (err instanceof RedisRefusedError) throw err;
  }
}

export function registerWorker(program: Command, globals: () => GlobalFlags): void {
  program
    .command('worker')
    .description('run a worker process; any number of them, on any hosts, share the work through Redis')
    .option('--concurrency <n>', 'batches processed at once, each in its own sandboxed process (default: one per core)', positiveInt('--concurrency'))
    .option('--queues <list>', 'comma-separated queues to take jobs from: score, train, eval (evaluations run in this process)', 'score')
    .option('--lock-duration <ms>', 'BullMQ job lock duration (renewed every half of it)', positiveInt('--lock-duration'), STALLED.lockDurationMs)
    .option('--stalled-interval <ms>', 'how often to re-queue jobs whose worker died (their lock expired)', positiveInt('--stalled-interval'), STALLED.stalledIntervalMs)
    .option('--model <uri>', 'model folder or s3:// URI (default: CXR_MODEL_URI or the shipped model)')
    .option('--engine <name>', 'inference engine: tfjs, onnx or auto (onnx when onnxruntime-node loads); default CXR_ENGINE or auto')
    .action(async (flags: WorkerFlags) => {
      const config = configFrom(globals());
      exportSettings(config); // the sandboxed processes read their settings from the environment
      if (flags.model) process.env.CXR_MODEL_URI = flags.model;
      const engine = flags.engine ?? process.env.CXR_ENGINE;
      process.env.CXR_ENGINE = isNullEngine(engine) ? 'null' : parseEngine(engine); // checked here, used by the sandboxes
      const logger = createLogger({ role: 'worker' });
      await refusedByRedis(redisTarget(config), config.queuePrefix);
      const queues = flags.queues.split(',').map((q) => q.trim()).filter(Boolean);
      if (queues.includes(SCORE_QUEUE)) {
        // Before taking jobs: a worker that cannot score says so now and exits non-zero.
        const { info, backend } = await checkModel(process.env);
        logger.info({ model: info, backend }, 'model loaded and checked');
      }
      // A wrong password or certificate ends the worker with one line; an outage is waited out.
      const watch = new ConnectionWatch(logger, redisTarget(config), (line) => exitWithError(new UserError(line)));
      const workers = startWorkers({
        redisUrl: config.redisUrl,
        redisTls: config.redisTls,
        prefix: config.queuePrefix,
        logger,
        concurrency: flags.concurrency,
        lockDurationMs: flags.lockDuration,
        stalledIntervalMs: flags.stalledInterval,
        queues,
        config,
        watch,
      });
      await untilSignal(workers, watch, logger);
      process.exit(0);
    });
}
