#!/usr/bin/env node
import { Command } from 'commander';
import { exitWithError } from './errors.js';
import { UserError } from '../shared/errors.js';
import type { GlobalFlags } from './runtime.js';

type Register = (program: Command, globals: () => GlobalFlags) => void;

/**
 * Each top-level command's registration, imported only when that command runs, so that `cxr score` or
 * `cxr schedule` start without loading TF.js, Vega or sharp. Help and unknown commands load them all.
 */
const COMMANDS: Record<string, () => Promise<Register[]>> = {
  score: async () => [(await import('./commands/score.js')).registerScore],
  status: async () => [(await import('./commands/status.js')).registerStatus],
  worker: async () => [(await import('./commands/worker.js')).registerWorker],
  dashboard: async () => [(await import('./commands/dashboard.js')).registerDashboard],
  demo: async () => [(await import('./commands/demo.js')).registerDemo],
  models: async () => [
    (await import('./commands/models.js')).registerModels,
    (await import('./commands/promote.js')).registerPromote,
    (await import('./commands/calibrate.js')).registerCalibrate,
  ],
  schedule: async () => [(await import('./commands/schedule.js')).registerSchedule],
  eval: async () => [(await import('./commands/evals.js')).registerEvals],
  report: async () => [(await import('./commands/report.js')).registerReport],
  train: async () => [(await import('./commands/train.js')).registerTrain],
  's3-server': async () => [(await import('./commands/s3-server.js')).registerS3Server],
};
COMMANDS.evals = COMMANDS.eval; // one module registers both

const program = new Command('cxr')
  .description('chest X-ray pneumonia screening: S3 -> BullMQ on Redis -> ResNet50 workers -> S3')
  .option('--redis-url <url>', 'Redis URL (env REDIS_URL, default redis://127.0.0.1:6379)')
  .option('--s3-endpoint <url>', 'S3-compatible endpoint (env S3_ENDPOINT; default AWS)')
  .option('--region <region>', 'S3 region (env AWS_REGION, default us-east-1)')
  .option('--path-style', 'path-style S3 addressing (env S3_FORCE_PATH_STYLE; default on when an endpoint is set)')
  .option('--sse <mode>', 'encrypt every object written at rest: AES256 or aws:kms (env CXR_S3_SSE)')
  .option(
    '--sse-kms-key-id <id>',
    'KMS key id or ARN for --sse aws:kms (env CXR_S3_SSE_KMS_KEY_ID; default the aws/s3 key)',
  )
  // Commander's errors come back as exceptions (inherited by every subcommand), printed below as one line.
  .exitOverride()
  .configureOutput({ outputError: () => {} });

/** The command the arguments name: the first one that is neither a global option nor its value. */
function commandIn(args: readonly string[]): string | undefined {
  const withValue = new Set(program.options.filter((o) => o.required || o.optional).map((o) => o.long));
  for (let i = 0; i < args.length; i++) {
    if (!args[i].startsWith('-')) return args[i];
    if (withValue.has(args[i])) i++;
  }
  return undefined;
}

/** Commands that go on serving after their action returns; their signal handling ends them. */
const SERVING = new Set(['worker', 'dashboard', 's3-server']);

/** Once a one-shot command has returned, what it left open (a connection, a timer) may delay the exit this long, no more. */
const EXIT_GRACE_MS = 3000;

async function main(): Promise<void> {
  const name = commandIn(process.argv.slice(2));
  let returned = false;
  // A command awaiting what can no longer happen (every connection closed under it) would otherwise end silently, code 0.
  process.once('beforeExit', () => {
    if (!returned)
      exitWithError(
        new UserError(
          `${name ?? 'cxr'} stopped before finishing: nothing it waited on can happen any more (a connection lost?)`,
        ),
      );
  });
  const loaders = name && Object.hasOwn(COMMANDS, name) ? [COMMANDS[name]] : [...new Set(Object.values(COMMANDS))];
  const globals = () => program.opts<GlobalFlags>();
  for (const load of loaders) for (const register of await load()) register(program, globals);
  await program.parseAsync(process.argv);
  returned = true;
  if (name && SERVING.has(name)) return;
  setTimeout(() => {
    if (['debug', 'trace'].includes(process.env.LOG_LEVEL ?? ''))
      process.stderr.write(`cxr: exiting with handles still open: ${process.getActiveResourcesInfo().join(', ')}\n`);
    process.exit();
  }, EXIT_GRACE_MS).unref();
}

main().catch((err: unknown) => exitWithError(err));
