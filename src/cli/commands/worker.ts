import { InvalidArgumentError, type Command } from 'commander';
import os from 'node:os';
import { ConnectionWatch } from '../../shared/connection-watch.js';
import { exportSettings, redisTarget } from '../../shared/config.js';
import {
  connectRedis,
  createWorkerRedis,
  redisHostPort,
  RedisRefusedError,
  type RedisTarget,
} from '../../shared/redis-connection.js';
import { UsageError, UserError } from '../../shared/errors.js';
import { exitWithError } from '../errors.js';
import { createLogger } from '../../shared/logger.js';
import { Drain } from '../../worker/drain.js';
import { HeartbeatWriter } from '../../worker/heartbeat.js';
import { WorkerEndpoint } from '../../worker/http/worker-endpoint.js';
import { sharedScoreProcessor } from '../../worker/shared-inference/processor.js';
import { EVAL_QUEUE } from '../../eval/types.js';
import { SCORE_QUEUE, STALLED } from '../../shared/queue.js';
import { startWorkers } from '../../worker/start-worker.js';
import { checkModel } from '../../worker/model-check.js';
import { isNullEngine } from '../../worker/engine-choice.js';
import { parseEngine } from '../../model/engine.js';
import { nonNegative, positiveInt, tcpPort } from '../parse.js';
import { configFrom, type GlobalFlags } from '../runtime.js';

interface WorkerFlags {
  concurrency?: number;
  queues: string;
  lockDuration: number;
  stalledInterval: number;
  model?: string;
  engine?: string;
  httpPort?: number;
  httpHost: string;
  drainTimeout: number;
  inference?: string;
  maxBatch: number;
  batchWait: number;
}

const MODES = ['slot', 'shared'];

function inferenceMode(flag: string) {
  return (value: string): string => {
    if (!MODES.includes(value))
      throw new InvalidArgumentError(`${flag} must be slot or shared, got ${JSON.stringify(value)}`);
    return value;
  };
}

/** The environment's value of a setting a flag overrides, parsed like the flag; a bad one is a usage error naming it. */
function fromEnv<T>(
  env: NodeJS.ProcessEnv,
  name: string,
  parse: (flag: string) => (value: string) => T,
): T | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  try {
    return parse(name)(v);
  } catch (err) {
    throw new UsageError((err as Error).message, { cause: err });
  }
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
    .option(
      '--concurrency <n>',
      'batches processed at once (job slots), each in its own sandboxed process unless --inference shared (default: one per core)',
      positiveInt('--concurrency'),
    )
    .option(
      '--queues <list>',
      'comma-separated queues to take jobs from: score, train, eval (evaluations run in this process)',
      'score',
    )
    .option(
      '--lock-duration <ms>',
      'BullMQ job lock duration (renewed every half of it)',
      positiveInt('--lock-duration'),
      STALLED.lockDurationMs,
    )
    .option(
      '--stalled-interval <ms>',
      'how often to re-queue jobs whose worker died (their lock expired)',
      positiveInt('--stalled-interval'),
      STALLED.stalledIntervalMs,
    )
    .option('--model <uri>', 'model folder or s3:// URI (default: CXR_MODEL_URI or the shipped model)')
    .option(
      '--engine <name>',
      "inference engine: tfjs, onnx (FP32), onnx-int8 (static INT8, see docs/benchmarks.md) or auto (ONNX Runtime when onnxruntime-node loads: INT8 on a CPU host where the model's int8-parity.json passes, else FP32); default CXR_ENGINE or auto",
    )
    .option(
      '--http-port <port>',
      'serve /healthz, /readyz and /metrics (Prometheus) on this port (default CXR_HTTP_PORT; off when unset)',
      tcpPort('--http-port'),
    )
    .option('--http-host <address>', 'address the HTTP endpoint listens on', '0.0.0.0')
    .option(
      '--drain-timeout <s>',
      'on SIGTERM, seconds to finish the jobs in progress before exiting anyway',
      nonNegative('--drain-timeout'),
      60,
    )
    .option(
      '--inference <mode>',
      'slot: a sandboxed process with its own model per slot; shared: one inference thread per process, fed by all slots (default CXR_INFERENCE, else shared on a GPU backend, else slot)',
      inferenceMode('--inference'),
    )
    .option(
      '--max-batch <n>',
      'with --inference shared: most images in one inference call across slots',
      positiveInt('--max-batch'),
      32,
    )
    .option(
      '--batch-wait <ms>',
      "with --inference shared: how long a batch waits for other slots' before running",
      nonNegative('--batch-wait'),
      5,
    )
    .action(async (flags: WorkerFlags) => {
      const config = configFrom(globals());
      exportSettings(config); // the sandboxed processes read their settings from the environment
      if (flags.model) process.env.CXR_MODEL_URI = flags.model;
      const engine = flags.engine ?? process.env.CXR_ENGINE;
      process.env.CXR_ENGINE = isNullEngine(engine) ? 'null' : parseEngine(engine); // checked here, used by the sandboxes
      const logger = createLogger({ role: 'worker' });
      await refusedByRedis(redisTarget(config), config.queuePrefix);
      const queues = flags.queues
        .split(',')
        .map((q) => q.trim())
        .filter(Boolean);
      const scores = queues.includes(SCORE_QUEUE);
      // A wrong password or certificate ends the worker with one line; an outage is waited out.
      const watch = new ConnectionWatch(logger, redisTarget(config), (line) => exitWithError(new UserError(line)));
      const port = flags.httpPort ?? fromEnv(process.env, 'CXR_HTTP_PORT', tcpPort);
      // Up before the model check, so /healthz answers (and /readyz says why not ready) while the model loads.
      const endpoint =
        port === undefined
          ? undefined
          : await WorkerEndpoint.start({
              port,
              host: flags.httpHost,
              redis: redisTarget(config),
              prefix: config.queuePrefix,
              queues,
              watch,
              needsModel: scores,
            });
      if (endpoint) logger.info({ port, host: flags.httpHost }, 'serving /healthz, /readyz and /metrics');
      // Every resource below is closed by the drain, each within a deadline (a Redis gone would hold a close forever).
      const owned: { shared?: Awaited<ReturnType<typeof sharedScoreProcessor>> } = {};
      const beatConnection = createWorkerRedis(redisTarget(config));
      watch.attach(beatConnection);
      const drain = new Drain({
        logger,
        timeoutMs: flags.drainTimeout * 1000,
        redisConnected: () => watch.connected,
        redis: redisHostPort(config.redisUrl),
        onDrain: () => endpoint?.readiness.drain(),
        closeOthers: async () => {
          watch.detach(beatConnection);
          await Promise.all([endpoint?.close(), owned.shared?.close(), heartbeat.stop()]);
        },
        exit: (code, why) => {
          if (why) process.stderr.write(`cxr: ${why}\n`);
          process.exit(code);
        },
      }).install();
      // The CLI's stall detection reads it: starting, loading the model, idle or scoring, and recent sandbox crashes.
      const heartbeat = new HeartbeatWriter(beatConnection, config.queuePrefix, () => drain.held.size).start();
      let modelBackend: string | undefined;
      if (scores) {
        // Before taking jobs: a worker that cannot score says so now and exits non-zero.
        heartbeat.setPhase('loading');
        const { info, backend } = await checkModel(process.env);
        logger.info({ model: info, backend }, 'model loaded and checked');
        endpoint?.metrics.setModel(info, process.env.CXR_ENGINE ?? 'auto', backend);
        endpoint?.readiness.modelLoaded();
        modelBackend = backend;
      }
      const concurrency = flags.concurrency ?? os.availableParallelism();
      const mode =
        flags.inference ??
        fromEnv(process.env, 'CXR_INFERENCE', inferenceMode) ??
        (/cuda|gpu/i.test(modelBackend ?? '') ? 'shared' : 'slot');
      const shared = (owned.shared =
        scores && mode === 'shared'
          ? await sharedScoreProcessor(
              {
                maxBatch: flags.maxBatch,
                waitMs: flags.batchWait,
                onBatch: (n, r) => endpoint?.metrics.inferenceBatch(n, r),
              },
              watch,
            )
          : undefined);
      if (scores)
        logger.info(
          {
            inference: mode,
            ...(shared ? { maxBatch: flags.maxBatch, batchWaitMs: flags.batchWait, backend: shared.backend } : {}),
          },
          'inference mode',
        );
      const workers = startWorkers({
        redisUrl: config.redisUrl,
        redisTls: config.redisTls,
        prefix: config.queuePrefix,
        logger,
        concurrency,
        lockDurationMs: flags.lockDuration,
        stalledIntervalMs: flags.stalledInterval,
        queues,
        config,
        watch,
        scoreProcessor: shared?.processor,
      });
      drain.setWorkers(workers);
      heartbeat.watch(workers).setPhase('running');
      endpoint?.observe(workers, concurrency * queues.filter((q) => q !== EVAL_QUEUE).length);
    });
}
