import type { Command } from 'commander';
import {
  createRun,
  EXIT_CODES,
  newRunId,
  parseMaxFailures,
  readRunMetrics,
  resumeRun,
  stallLimits,
  verdictLine,
  type MaxFailures,
  type ScoreRequest,
} from '../../run/index.js';
import { UsageError, UserError } from '../../shared/errors.js';
import { parseLabelsFile } from '../../shared/labels.js';
import { readLabelsText } from '../labels-file.js';
import { assertBucket } from '../../shared/s3/bucket.js';
import { joinKey, parseS3Uri } from '../../shared/s3/uri.js';
import { metricsTable } from '../metrics-table.js';
import { waitForRun } from '../progress.js';
import { configFrom, openRuntime, type GlobalFlags, type Runtime } from '../runtime.js';
import { parsedBy, positiveInt, runIdArg, s3Uri } from '../parse.js';

interface ScoreFlags extends WaitFlags {
  out?: string;
  batchSize: number;
  runId?: string;
  labels?: string;
  resume?: string;
  wait?: boolean;
  skipFlagged?: boolean;
  manifest?: string;
  maxQueuedBatches?: number;
  shardPrefixes?: string;
  listDepth?: number;
  batchesPerShard?: number;
}

export interface WaitFlags {
  maxFailures: MaxFailures;
  stallTimeout: number;
}

/** The options that say when waiting on a run ends, shared by `score --wait` and `status --watch`. */
export function waitOptions(cmd: Command): Command {
  return cmd
    .option(
      '--max-failures <n|p%>',
      'exit 0 only if at most this many keys (or this percentage of them) failed',
      parsedBy(parseMaxFailures),
      { count: 0 },
    )
    .option(
      '--stall-timeout <seconds>',
      'give up as stuck when no batch progressed for this long (or no worker was alive for a minute)',
      positiveInt('--stall-timeout'),
      600,
    )
    .addHelpText(
      'after',
      '\nExit codes when waiting: 0 done (within --max-failures), 3 the run failed, 4 stuck (it says whether no batch progressed or no worker is alive), 5 too many failures, 6 lost Redis while waiting (the run goes on); 2 bad usage, 1 any other error.',
    );
}

export function registerScore(program: Command, globals: () => GlobalFlags): void {
  const cmd = program
    .command('score')
    .description(
      'list the images under an S3 prefix (or read them from --manifest) and feed them to the queue in batch jobs',
    )
    .argument(
      '[source]',
      's3://BUCKET/PREFIX holding the images (with --manifest: where its relative keys live; default its bucket)',
      s3Uri,
    )
    .option(
      '--manifest <uri>',
      'take the keys from s3://…/keys.jsonl ({"key"} or {"source-ref"} lines) or a CSV (key[,label]) instead of listing',
      s3Uri,
    )
    .option(
      '--max-queued-batches <n>',
      "batch jobs in the queue at once (default 20 x the workers' concurrency); the rest are fed as batches finish",
      positiveInt('--max-queued-batches'),
    )
    .option(
      '--shard-prefixes <list>',
      'comma-separated sub-prefixes of the source (relative, in key order) to list in parallel',
    )
    .option(
      '--list-depth <n>',
      'discover sub-prefixes with "/" delimiters this many levels down and list them in parallel',
      positiveInt('--list-depth'),
    )
    .option('--batches-per-shard <n>', 'batches per manifest shard', positiveInt('--batches-per-shard'), 1000)
    .option('--out <uri>', 's3://BUCKET/OUTPREFIX for parts, predictions and metrics', s3Uri)
    .option('--batch-size <n>', 'images per batch job', positiveInt('--batch-size'), 16)
    .option('--run-id <id>', 'run id (default: generated); the same id never enqueues a batch twice', runIdArg)
    .option(
      '--labels <file>',
      'labels file (local path or s3://), CSV key,label or JSON lines; default: class folders in keys',
    )
    .option(
      '--resume <runId>',
      'repair an ended or stuck run: re-enqueue only its keys with no prediction, under the same batch ids',
      runIdArg,
    )
    .option('--wait', 'show progress until the run ends, then print its metrics')
    .option(
      '--skip-flagged',
      'record a flagged image (lateral view, not chest, not CR/DX, out of distribution) as a failure instead of scoring it',
    );
  waitOptions(cmd).action(async (source: string | undefined, flags: ScoreFlags) => {
    const req = flags.resume ? undefined : scoreRequest(source, flags); // before any connection
    const rt = await openRuntime(configFrom(globals()), 'producer');
    try {
      const runId = await (req ? start(rt, req, flags.labels) : resume(rt, flags));
      process.stdout.write(`${runId}\n`);
      if (flags.wait) await waitAndReport(rt, runId, flags);
    } finally {
      await rt.close();
    }
  });
}

function scoreRequest(source: string | undefined, flags: ScoreFlags): ScoreRequest {
  if (!source && !flags.manifest)
    throw new UsageError(
      'score: give the source s3://BUCKET/PREFIX or --manifest s3://…/keys.jsonl (or --resume RUN_ID)',
    );
  if (!flags.out) throw new UsageError('score: --out s3://BUCKET/OUTPREFIX is required');
  if (flags.manifest && (flags.shardPrefixes || flags.listDepth))
    throw new UsageError('score: --shard-prefixes and --list-depth split a listing; --manifest lists nothing');
  if (flags.shardPrefixes && flags.listDepth)
    throw new UsageError('score: give --shard-prefixes or --list-depth, not both');
  const src = source ? parseS3Uri(source) : { bucket: parseS3Uri(flags.manifest!).bucket, prefix: '' };
  const shardPrefixes = flags.shardPrefixes
    ?.split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => joinKey(src.prefix, p) + (p.endsWith('/') ? '/' : ''));
  return {
    runId: flags.runId ?? newRunId(),
    source: src,
    out: parseS3Uri(flags.out),
    batchSize: flags.batchSize,
    batchesPerShard: flags.batchesPerShard,
    manifest: flags.manifest,
    maxQueuedBatches: flags.maxQueuedBatches,
    shardPrefixes: shardPrefixes ? [...shardPrefixes].sort() : undefined,
    discoverDepth: flags.listDepth,
    ...(flags.skipFlagged ? { skipFlagged: true } : {}),
  };
}

async function start(rt: Runtime, req: ScoreRequest, labels: string | undefined): Promise<string> {
  await assertBucket(rt.s3, req.source, 'source');
  await assertBucket(rt.s3, req.out, '--out');
  if (labels) req.labels = { byKey: parseLabelsFile(await readLabelsText(rt.s3, labels), labels), from: labels };
  const run = await createRun(rt, req);
  rt.logger.info(
    { ...run },
    run.how === 'created'
      ? 'run created'
      : run.how === 'adopted'
        ? 'run adopted from the producer that created it first'
        : 'run already existed',
  );
  return run.runId;
}

async function resume(rt: Runtime, flags: ScoreFlags): Promise<string> {
  const runId = flags.resume!;
  const r = await resumeRun(rt, runId, flags.out ? parseS3Uri(flags.out) : undefined);
  rt.logger.info({ ...r }, 'run resumed');
  process.stderr.write(
    `run ${runId}: attempt generation ${r.generation}: ${r.missing} keys without a prediction re-enqueued in ${r.batches} of ${r.totalBatches} batches\n`,
  );
  return runId;
}

/** Waits for the run, prints its metrics, and ends with the verdict line: exit 0, or a UserError with the verdict's exit code. */
export async function waitAndReport(rt: Runtime, runId: string, flags: WaitFlags): Promise<void> {
  const { verdict, state } = await waitForRun(rt, runId, {
    maxFailures: flags.maxFailures,
    limits: stallLimits(flags.stallTimeout * 1000),
  });
  // A stuck run has no metrics yet; with Redis lost the run goes on, and its metrics are not final.
  const ended = verdict.kind !== 'stuck' && verdict.kind !== 'redis-lost';
  const metrics = ended ? await readRunMetrics(rt.s3, { out: state.out, runId }) : undefined;
  if (metrics) process.stdout.write(metricsTable(metrics) + '\n');
  const line = verdictLine(runId, verdict);
  if (verdict.kind !== 'ok') throw new UserError(line, EXIT_CODES[verdict.kind]);
  process.stderr.write(`${line}\n`);
}
