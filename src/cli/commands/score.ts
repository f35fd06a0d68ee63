import type { Command } from 'commander';
import { createRun, type ScoreRequest } from '../../producer/create-run.js';
import { resumeRun } from '../../producer/resume-run.js';
import { parseLabelsFile } from '../../shared/labels.js';
import { readLabelsText } from '../labels-file.js';
import { assertRunId, newRunId } from '../../shared/run/batching.js';
import { parseS3Uri } from '../../shared/s3/uri.js';
import { readRunMetrics } from '../../worker/finalize-run.js';
import { metricsTable } from '../metrics-table.js';
import { watchRun } from '../progress.js';
import { configFrom, openRuntime, type GlobalFlags, type Runtime } from '../runtime.js';
import { positiveInt } from '../parse.js';

interface ScoreFlags {
  out?: string;
  batchSize: number;
  runId?: string;
  labels?: string;
  resume?: string;
  wait?: boolean;
}

export function registerScore(program: Command, globals: () => GlobalFlags): void {
  program
    .command('score')
    .description('list the images under an S3 prefix and enqueue them for scoring in batch jobs')
    .argument('[source]', 's3://BUCKET/PREFIX holding the images')
    .option('--out <uri>', 's3://BUCKET/OUTPREFIX for parts, predictions and metrics')
    .option('--batch-size <n>', 'images per batch job', positiveInt('--batch-size'), 16)
    .option('--run-id <id>', 'run id (default: generated); the same id never enqueues a batch twice')
    .option('--labels <file>', 'labels file (local path or s3://), CSV key,label or JSON lines; default: class folders in keys')
    .option('--resume <runId>', 'enqueue only the keys of this run that have no prediction yet')
    .option('--wait', 'show progress until the run ends, then print its metrics')
    .action(async (source: string | undefined, flags: ScoreFlags) => {
      const rt = openRuntime(configFrom(globals()), 'producer');
      try {
        const runId = await (flags.resume ? resume(rt, flags) : start(rt, source, flags));
        process.stdout.write(`${runId}\n`);
        if (flags.wait) await waitAndReport(rt, runId);
      } finally {
        await rt.close();
      }
    });
}

async function start(rt: Runtime, source: string | undefined, flags: ScoreFlags): Promise<string> {
  if (!source) throw new Error('score: give the source s3://BUCKET/PREFIX (or --resume RUN_ID)');
  if (!flags.out) throw new Error('score: --out s3://BUCKET/OUTPREFIX is required');
  const req: ScoreRequest = {
    runId: assertRunId(flags.runId ?? newRunId()),
    source: parseS3Uri(source),
    out: parseS3Uri(flags.out),
    batchSize: flags.batchSize,
  };
  if (flags.labels) req.labels = { byKey: parseLabelsFile(await readLabelsText(rt.s3, flags.labels), flags.labels), from: flags.labels };
  const run = await createRun(rt, req);
  rt.logger.info({ ...run }, run.existed ? 'run already existed' : 'run created');
  return run.runId;
}

async function resume(rt: Runtime, flags: ScoreFlags): Promise<string> {
  const runId = assertRunId(flags.resume!);
  const r = await resumeRun(rt, runId, flags.out ? parseS3Uri(flags.out) : undefined);
  rt.logger.info({ ...r }, 'run resumed');
  return runId;
}

export async function waitAndReport(rt: Runtime, runId: string): Promise<void> {
  const state = await watchRun(rt.store, runId);
  const metrics = await readRunMetrics(rt.s3, { out: state.out, runId });
  if (metrics) process.stdout.write(metricsTable(metrics) + '\n');
}
