import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Redis } from 'ioredis';
import { repoRoot } from '../shared/paths.js';
import { openUploadStream } from '../shared/s3/upload-stream.js';
import { runLayout, type RunMetrics, type PartLine, type RunManifest } from '../run/index.js';
import { getTextIfExists, putObject } from '../shared/s3/objects.js';

/**
 * One synthetic scale run, as a user would start it: an input manifest of N keys (no objects behind them)
 * scored by `cxr score --manifest` and one `cxr worker` on the null engine (CXR_NULL_IMAGES=skip: a fixed
 * probability, nothing downloaded), finalized (run report included) by that worker. Samples the peak RSS of every process and
 * Redis used_memory throughout, then checks that every key is in the merged output exactly once.
 */
export interface ScaleOptions {
  n: number;
  bucket: string;
  runId: string;
  batchSize: number;
  batchesPerShard: number;
  concurrency: number;
  /** Environment for the CLI processes: REDIS_URL, S3_ENDPOINT, CXR_QUEUE_PREFIX, credentials. */
  env: NodeJS.ProcessEnv;
  s3: S3Client;
  redis: Redis;
  queuePrefix: string;
  log?: (line: string) => void;
  timeoutMs?: number;
  /** After the run: fail `keys` keys of one batch in each of `shards` manifest shards (their parts rewritten), `cxr score --resume`, and its finalize. */
  refinalize?: RefinalizeOptions;
}

export interface RefinalizeOptions {
  shards: number;
  keys: number;
  /** Called as each phase starts (a test marks the S3 requests it sees). */
  onPhase?: (phase: 'resume' | 'finalize' | 'ended') => void;
  /** Environment of the resume process over the run's (a test gives it an S3 endpoint of its own). */
  resumeEnv?: NodeJS.ProcessEnv;
}

export interface RefinalizeResult {
  /** Manifest shards whose parts were rewritten, and keys failed in them. */
  failedShards: number[];
  failedKeys: number;
  /** cxr score --resume: wall time of the process, its planning time, and what its planning read. */
  resume: { seconds: number; planSeconds: number; missing: number; reads: ReadCounts };
  /** The second finalize: time, keys merged per second, shards taken from checkpoints or merged again, and what it read. */
  finalize: {
    seconds: number;
    keysPerSec: number;
    shards: { checkpointed: number; merged: number };
    reads: ReadCounts;
  };
  output: ScaleResult['output'];
  metrics: ScaleResult['metrics'];
}

type ReadCounts = Record<'parts' | 'checkpoints', { objects: number; bytes: number }>;

export interface ScaleResult {
  n: number;
  batches: number;
  seconds: { writeInput: number; producer: number; run: number; finalize: number; verify: number };
  keysPerSec: { producer: number; finalize: number; run: number };
  peakRssBytes: { producer: number; worker: number; sandboxes: number };
  redis: { baselineBytes: number; peakBytes: number; peakDeltaBytes: number };
  output: { predictions: number; failures: number; csvRows: number; missing: number; duplicated: number };
  metrics: Pick<RunMetrics, 'state' | 'counts'> & { rocAuc: number | null };
  /** The first finalize's shards and reads. */
  finalizeReads: ReadCounts;
  refinalize?: RefinalizeResult;
}

type SpawnCli = (args: string[], extraEnv?: NodeJS.ProcessEnv) => { child: ChildProcess; stderr: () => string };

const CLI = () => path.join(repoRoot(), 'dist', 'cli', 'index.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Key i of the synthetic source (labels alternate so confusion counts and ROC AUC are exercised). */
export const scaleKey = (i: number) => `${i % 2 ? 'PNEUMONIA' : 'NORMAL'}/${String(i).padStart(9, '0')}.png`;

/** VmHWM (peak resident set) of a live process, in bytes; 0 once it is gone. */
function peakRss(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

/** Lines of an S3 object, streamed. */
async function* objectLines(s3: S3Client, bucket: string, key: string): AsyncGenerator<string> {
  const body = (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body as Readable;
  for await (const line of createInterface({ input: body, crlfDelay: Infinity })) if (line) yield line;
}

/** The last JSON log line with this message from a process's stderr. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function logLine(text: string, msg: string): Record<string, any> | undefined {
  const line = text
    .split('\n')
    .filter((l) => l.includes(`"msg":"${msg}"`))
    .at(-1);
  return line ? (JSON.parse(line) as Record<string, unknown>) : undefined;
}

export async function scaleRun(o: ScaleOptions): Promise<ScaleResult> {
  const log = o.log ?? (() => undefined);
  const t0 = performance.now();
  const input = openUploadStream(o.s3, o.bucket, `input/${o.runId}.jsonl`, 'application/x-ndjson');
  for (let i = 0; i < o.n; i++)
    await input.write(`{"key":"${scaleKey(i)}","label":"${i % 2 ? 'PNEUMONIA' : 'NORMAL'}"}\n`);
  await input.end();
  const writeInput = (performance.now() - t0) / 1000;
  log(`${o.n} keys: input manifest written in ${writeInput.toFixed(1)} s`);

  const env = { ...o.env, CXR_ENGINE: 'null', CXR_NULL_IMAGES: 'skip', CXR_NULL_PROBABILITY: '0.7', LOG_LEVEL: 'info' };
  const baselineBytes = await usedMemory(o.redis);
  const peaks = { producer: 0, worker: 0, sandboxes: 0, redis: baselineBytes };
  const spawnCli: SpawnCli = (args, extraEnv) => {
    const child = spawn(process.execPath, [CLI(), ...args], {
      env: { ...env, ...extraEnv },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2_000_000)));
    return { child, stderr: () => err };
  };
  const worker = spawnCli(['worker', '--concurrency', String(o.concurrency)]);
  const tRun = performance.now();
  const producer = spawnCli([
    'score',
    `s3://${o.bucket}/scale/`,
    '--manifest',
    `s3://${o.bucket}/input/${o.runId}.jsonl`,
    '--out',
    `s3://${o.bucket}/out`,
    '--run-id',
    o.runId,
    '--batch-size',
    String(o.batchSize),
    '--batches-per-shard',
    String(o.batchesPerShard),
  ]);
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peaks.producer = Math.max(peaks.producer, peakRss(producer.child.pid!));
      peaks.worker = Math.max(peaks.worker, peakRss(worker.child.pid!));
      for (const c of childrenOf(worker.child.pid!)) peaks.sandboxes = Math.max(peaks.sandboxes, peakRss(c));
      peaks.redis = Math.max(peaks.redis, await usedMemory(o.redis).catch(() => 0));
      await sleep(200);
    }
  })();
  try {
    const code = await new Promise<number | null>((r) => producer.child.on('exit', r));
    if (code !== 0) throw new Error(`cxr score exited ${code}: ${producer.stderr().slice(-2000)}`);
    const listed = logLine(producer.stderr(), 'manifest written; run enqueued');
    const hash = `${o.queuePrefix}:run:${o.runId}`;
    const deadline = Date.now() + (o.timeoutMs ?? 3_600_000);
    const runEnded = async () => {
      for (;;) {
        const status = await o.redis.hget(hash, 'status');
        if (status && status !== 'running') break;
        if (worker.child.exitCode !== null) throw new Error(`cxr worker exited: ${worker.stderr().slice(-2000)}`);
        if (Date.now() > deadline) throw new Error(`run ${o.runId} did not end in time`);
        await sleep(500);
      }
    };
    await runEnded();
    const runSeconds = (performance.now() - tRun) / 1000;
    // The finalize ends with the run report (labelled keys): the sandboxes' peak includes it.
    while (!/"msg":"run report (written|failed)/.test(worker.stderr()) && Date.now() < deadline) await sleep(500);
    await sleep(300); // one more sample of the sandboxes after the finalize
    const finalized = logLine(worker.stderr(), 'run finalized');

    const tVerify = performance.now();
    const output = await verifyOutput(o);
    const layout = runLayout({ bucket: o.bucket, prefix: 'out' }, o.runId);
    const metrics = JSON.parse((await getTextIfExists(o.s3, o.bucket, layout.metrics))!) as RunMetrics;
    const producerSeconds = (listed?.ms ?? 0) / 1000;
    const finalizeSeconds = (finalized?.ms ?? 0) / 1000;
    const refinalize = o.refinalize && (await refinalizeRun(o, o.refinalize, spawnCli, runEnded, worker.stderr));
    return {
      n: o.n,
      batches: Math.ceil(o.n / o.batchSize),
      seconds: {
        writeInput,
        producer: producerSeconds,
        run: runSeconds,
        finalize: finalizeSeconds,
        verify: (performance.now() - tVerify) / 1000,
      },
      keysPerSec: {
        producer: Math.round(o.n / producerSeconds),
        finalize: Math.round(o.n / finalizeSeconds),
        run: Math.round(o.n / runSeconds),
      },
      peakRssBytes: { producer: peaks.producer, worker: peaks.worker, sandboxes: peaks.sandboxes },
      redis: { baselineBytes, peakBytes: peaks.redis, peakDeltaBytes: peaks.redis - baselineBytes },
      output,
      metrics: summary(metrics),
      finalizeReads: finalized?.reads,
      ...(refinalize ? { refinalize } : {}),
    };
  } finally {
    sampling = false;
    await sampler;
    for (const p of [producer.child, worker.child]) {
      if (p.exitCode === null && p.signalCode === null) {
        p.kill('SIGTERM');
        await new Promise((r) => p.once('exit', r));
      }
    }
  }
}

const summary = (m: RunMetrics): ScaleResult['metrics'] => ({
  state: m.state,
  counts: m.counts,
  rocAuc: m.classification?.rocAuc ?? null,
});

/** The manifest shards the re-finalize fails keys in: `count` of them, spread over the run. Pure. */
export function spreadShards(totalShards: number, count: number): number[] {
  const k = Math.min(count, totalShards);
  return [...new Set(Array.from({ length: k }, (_, i) => Math.floor(((i + 0.5) * totalShards) / k)))];
}

/**
 * After the run: the first batch of some shards gets `keys` failures (its part rewritten, as a worker that
 * failed them would have written it), `cxr score --resume` re-enqueues them, the worker scores them and
 * finalizes again. Returns the resume's and the finalize's times and reads, and the outputs checked again.
 */
async function refinalizeRun(
  o: ScaleOptions,
  r: RefinalizeOptions,
  spawnCli: SpawnCli,
  runEnded: () => Promise<void>,
  workerStderr: () => string,
): Promise<RefinalizeResult> {
  const layout = runLayout({ bucket: o.bucket, prefix: 'out' }, o.runId);
  const manifest = JSON.parse((await getTextIfExists(o.s3, o.bucket, layout.manifest))!) as RunManifest;
  const failedShards = spreadShards(manifest.shards.length, r.shards);
  let failedKeys = 0;
  for (const shard of failedShards) {
    const key = layout.part(manifest.shards[shard].firstBatch);
    const lines = (await getTextIfExists(o.s3, o.bucket, key))!
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as PartLine);
    const failed = lines.map((l, i): PartLine =>
      i < r.keys && l.type === 'prediction'
        ? {
            type: 'failure',
            key: l.key,
            etag: l.etag,
            stage: 'inference',
            reason: 'failed by the scale bench (--refinalize)',
            ...(l.trueLabel ? { trueLabel: l.trueLabel } : {}),
          }
        : l,
    );
    failedKeys += failed.filter((l) => l.type === 'failure').length;
    await putObject(
      o.s3,
      o.bucket,
      key,
      failed.map((l) => JSON.stringify(l)).join('\n') + '\n',
      'application/x-ndjson',
    );
  }
  r.onPhase?.('resume');
  const t = performance.now();
  const resume = spawnCli(['score', '--resume', o.runId], r.resumeEnv);
  const code = await new Promise<number | null>((done) => resume.child.on('exit', done));
  if (code !== 0) throw new Error(`cxr score --resume exited ${code}: ${resume.stderr().slice(-2000)}`);
  const resumeSeconds = (performance.now() - t) / 1000;
  const resumed = logLine(resume.stderr(), 'run resumed');
  r.onPhase?.('finalize');
  await runEnded();
  r.onPhase?.('ended');
  const finalized = logLine(workerStderr(), 'run finalized');
  const metrics = JSON.parse((await getTextIfExists(o.s3, o.bucket, layout.metrics))!) as RunMetrics;
  const seconds = (finalized?.ms ?? 0) / 1000;
  return {
    failedShards,
    failedKeys,
    resume: {
      seconds: resumeSeconds,
      planSeconds: (resumed?.planMs ?? 0) / 1000,
      missing: resumed?.missing,
      reads: resumed?.reads,
    },
    finalize: {
      seconds,
      keysPerSec: Math.round(o.n / Math.max(seconds, 1e-3)),
      shards: finalized?.shards,
      reads: finalized?.reads,
    },
    output: await verifyOutput(o),
    metrics: summary(metrics),
  };
}

/** Streams the merged outputs: each of the N keys must be in predictions.jsonl exactly once (and in the CSV). */
export async function verifyOutput(
  o: Pick<ScaleOptions, 's3' | 'bucket' | 'runId' | 'n'>,
): Promise<ScaleResult['output']> {
  const layout = runLayout({ bucket: o.bucket, prefix: 'out' }, o.runId);
  const seen = new Uint8Array(o.n);
  let predictions = 0;
  let duplicated = 0;
  for await (const line of objectLines(o.s3, o.bucket, layout.predictionsJsonl)) {
    predictions++;
    const key = (JSON.parse(line) as { key: string }).key;
    const m = /^scale\/(?:NORMAL|PNEUMONIA)\/(\d{9})\.png$/.exec(key);
    const i = m ? Number(m[1]) : -1;
    if (i < 0 || i >= o.n || scaleKey(i) !== key.slice('scale/'.length) || seen[i]++) duplicated++;
  }
  let failures = 0;
  for await (const _ of objectLines(o.s3, o.bucket, layout.failures)) failures++;
  let csvRows = -1; // the header
  for await (const _ of objectLines(o.s3, o.bucket, layout.predictionsCsv)) csvRows++;
  return { predictions, failures, csvRows, missing: seen.reduce((n, s) => n + (s === 0 ? 1 : 0), 0), duplicated };
}

async function usedMemory(redis: Redis): Promise<number> {
  const m = /used_memory:(\d+)/.exec(await redis.info('memory'));
  return m ? Number(m[1]) : 0;
}
