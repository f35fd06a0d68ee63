import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { createRun, type ScoreRequest } from '../../producer/create-run.js';
import { resumeRun } from '../../producer/resume-run.js';
import { parseLabelsFile } from '../../shared/labels.js';
import { newRunId } from '../../shared/run/batching.js';
import { assertBucket } from '../../shared/s3/bucket.js';
import { getTextIfExists } from '../../shared/s3/objects.js';
import { parseS3Uri } from '../../shared/s3/uri.js';
import { metricsTable } from '../metrics-table.js';
import { watchRun } from '../progress.js';
import { configFrom, openRuntime, type GlobalFlags, type Runtime } from '../runtime.js';
import { positiveInt, runIdArg, s3Uri } from '../parse.js';
import { UsageError } from '../errors.js';

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
    .argument('[source]', 's3://BUCKET/PREFIX holding the images', s3Uri)
    .option('--out <uri>', 's3://BUCKET/OUTPREFIX for parts, predictions and metrics', s3Uri)
    .option('--batch-size <n>', 'images per batch job', positiveInt('--batch-size'), 16)
    .option('--run-id <id>', 'run id (default: generated); the same id never enqueues a batch twice', runIdArg)
    .option('--labels <file>', 'labels file (local path or s3://), CSV key,label or JSON lines; default: class folders in keys')
    .option('--resume <runId>', 'enqueue only the keys of this run that have no prediction yet', runIdArg)
    .option('--wait', 'show progress until the run ends, then print its metrics')
    .action(async (source: string | undefined, flags: ScoreFlags) => {
      const req = flags.resume ? undefined : scoreRequest(source, flags); // before any connection
      const rt = openRuntime(configFrom(globals()), 'producer');
      try {
        const runId = await (req ? start(rt, req, flags.labels) : resume(rt, flags));
        process.stdout.write(`${runId}\n`);
        if (flags.wait) await waitAndReport(rt, runId);
      } finally {
        await rt.close();
      }
    });
}

function scoreRequest(source: string | undefined, flags: ScoreFlags): ScoreRequest {
  if (!source) throw new UsageError('score: give the source s3://BUCKET/PREFIX (or --resume RUN_ID)');
  if (!flags.out) throw new UsageError('score: --out s3://BUCKET/OUTPREFIX is required');
  return { runId: flags.runId ?? newRunId(), source: parseS3Uri(source), out: parseS3Uri(flags.out), batchSize: flags.batchSize };
}

async function start(rt: Runtime, req: ScoreRequest, labels: string | undefined): Promise<string> {
  await assertBucket(rt.s3, req.source, 'source');
  await assertBucket(rt.s3, req.out, '--out');
  if (labels) req.labels = { byKey: parseLabelsFile(await readLabels(rt, labels), labels), from: labels };
  const run = await createRun(rt, req);
  rt.logger.info({ ...run }, run.existed ? 'run already existed' : 'run created');
  return run.runId;
}

async function resume(rt: Runtime, flags: ScoreFlags): Promise<string> {
  const runId = flags.resume!;
  const r = await resumeRun(rt, runId, flags.out ? parseS3Uri(flags.out) : undefined);
  rt.logger.info({ ...r }, 'run resumed');
  return runId;
}

async function readLabels(rt: Runtime, where: string): Promise<string> {
  if (!where.startsWith('s3://')) {
    return readFile(where, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new Error(`--labels ${where}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
    });
  }
  const loc = parseS3Uri(where);
  const text = await getTextIfExists(rt.s3, loc.bucket, loc.prefix);
  if (text === undefined) throw new Error(`--labels ${where}: no such object`);
  return text;
}

export async function waitAndReport(rt: Runtime, runId: string): Promise<void> {
  const state = await watchRun(rt.store, runId);
  // Imported here: finalize-run brings the report code (TF.js, Vega), which score itself never needs.
  const { readRunMetrics } = await import('../../worker/finalize-run.js');
  const metrics = await readRunMetrics(rt.s3, { out: state.out, runId });
  if (metrics) process.stdout.write(metricsTable(metrics) + '\n');
}
