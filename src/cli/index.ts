#!/usr/bin/env node
import { Command } from 'commander';
import { registerDemo } from './commands/demo.js';
import { registerModels } from './commands/models.js';
import { registerScore } from './commands/score.js';
import { registerStatus } from './commands/status.js';
import { registerWorker } from './commands/worker.js';
import { registerEvals } from './commands/evals.js';
import { registerReport } from './commands/report.js';
import { registerSchedule } from './commands/schedule.js';
import { registerPromote } from './commands/promote.js';
import { registerTrain } from './commands/train.js';
import { registerS3Server } from './commands/s3-server.js';
import { exitWithError } from './errors.js';
import type { GlobalFlags } from './runtime.js';

const program = new Command('cxr')
  .description('chest X-ray pneumonia screening: S3 -> BullMQ on Redis -> ResNet50 workers -> S3')
  .option('--redis-url <url>', 'Redis URL (env REDIS_URL, default redis://127.0.0.1:6379)')
  .option('--s3-endpoint <url>', 'S3-compatible endpoint (env S3_ENDPOINT; default AWS)')
  .option('--region <region>', 'S3 region (env AWS_REGION, default us-east-1)')
  .option('--path-style', 'path-style S3 addressing (env S3_FORCE_PATH_STYLE; default on when an endpoint is set)')
  // Commander's errors come back as exceptions (inherited by every subcommand), printed below as one line.
  .exitOverride()
  .configureOutput({ outputError: () => {} });

const globals = () => program.opts<GlobalFlags>();
registerScore(program, globals);
registerStatus(program, globals);
registerWorker(program, globals);
registerDemo(program, globals);
registerModels(program);
registerSchedule(program, globals);
registerEvals(program, globals);
registerReport(program, globals);
registerTrain(program, globals);
registerPromote(program, globals);
registerS3Server(program);

program.parseAsync(process.argv).catch((err: unknown) => exitWithError(err));
