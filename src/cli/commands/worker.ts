import type { Command } from 'commander';
import { createLogger } from '../../shared/logger.js';
import { startWorkers } from '../../worker/start-worker.js';
import { parseEngine } from '../../model/engine.js';
import { positiveInt } from '../parse.js';
import { configFrom, type GlobalFlags } from '../runtime.js';

interface WorkerFlags {
  concurrency?: number;
  queues: string;
  lockDuration: number;
  model?: string;
  engine?: string;
}

export function registerWorker(program: Command, globals: () => GlobalFlags): void {
  program
    .command('worker')
    .description('run a worker process; any number of them, on any hosts, share the work through Redis')
    .option('--concurrency <n>', 'batches processed at once, each in its own sandboxed process (default: one per core)', positiveInt('--concurrency'))
    .option('--queues <list>', 'comma-separated queues to take jobs from: score, train, eval (evaluations run in this process)', 'score')
    .option('--lock-duration <ms>', 'BullMQ job lock duration', positiveInt('--lock-duration'), 30_000)
    .option('--model <uri>', 'model folder or s3:// URI (default: CXR_MODEL_URI or the shipped model)')
    .option('--engine <name>', 'inference engine: tfjs, onnx or auto (onnx when onnxruntime-node loads); default CXR_ENGINE or auto')
    .action(async (flags: WorkerFlags) => {
      const config = configFrom(globals());
      if (flags.model) process.env.CXR_MODEL_URI = flags.model;
      process.env.CXR_ENGINE = parseEngine(flags.engine ?? process.env.CXR_ENGINE); // checked here, used by the sandboxes
      const logger = createLogger({ role: 'worker' });
      const workers = startWorkers({
        redisUrl: config.redisUrl,
        prefix: config.queuePrefix,
        logger,
        concurrency: flags.concurrency,
        lockDurationMs: flags.lockDuration,
        queues: flags.queues.split(',').map((q) => q.trim()).filter(Boolean),
        config,
      });
      await new Promise<void>((resolve) => {
        const stop = async (signal: string) => {
          logger.info({ signal }, 'closing workers (finishing jobs in progress)');
          await Promise.all(workers.map((w) => w.close()));
          resolve();
        };
        process.once('SIGINT', () => void stop('SIGINT'));
        process.once('SIGTERM', () => void stop('SIGTERM'));
      });
    });
}
