import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Redis } from 'ioredis';
import { repoRoot } from '../shared/paths.js';
import { openUploadStream } from '../shared/s3/upload-stream.js';
import { runLayout } from '../shared/run/layout.js';
import type { RunMetrics } from '../shared/run/run-metrics.js';
import { getTextIfExists } from '../shared/s3/objects.js';

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
}

export interface ScaleResult {
  n: number;
  batches: number;
  seconds: { writeInput: number; producer: number; run: number; finalize: number; verify: number };
  keysPerSec: { producer: number; finalize: number; run: number };
  peakRssBytes: { producer: number; worker: number; sandboxes: number };
  redis: { baselineBytes: number; peakBytes: number; peakDeltaBytes: number };
  output: { predictions: number; failures: number; csvRows: number; missing: number; duplicated: number };
  metrics: Pick<RunMetrics, 'state' | 'counts'> & { rocAuc: number | null };
}

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

/** A JSON log line with this message from a process's stderr. */
function logLine(text: string, msg: string): Record<string, number> | undefined {
  const line = text.split('\n').find((l) => l.includes(`"msg":"${msg}"`));
  return line ? (JSON.parse(line) as Record<string, number>) : undefined;
}

export async function scaleRun(o: ScaleOptions): Promise<ScaleResult> {
  const log = o.log ?? (() => undefined);
  const t0 = performance.now();
  const input = openUploadStream(o.s3, o.bucket, `input/${o.runId}.jsonl`, 'application/x-ndjson');
  for (let i = 0; i < o.n; i++) await input.write(`{"key":"${scaleKey(i)}","label":"${i % 2 ? 'PNEUMONIA' : 'NORMAL'}"}\n`);
  await input.end();
  const writeInput = (performance.now() - t0) / 1000;
  log(`${o.n} keys: input manifest written in ${writeInput.toFixed(1)} s`);

  const env = { ...o.env, CXR_ENGINE: 'null', CXR_NULL_IMAGES: 'skip', CXR_NULL_PROBABILITY: '0.7', LOG_LEVEL: 'info' };
  const baselineBytes = await usedMemory(o.redis);
  const peaks = { producer: 0, worker: 0, sandboxes: 0, redis: baselineBytes };
  const spawnCli = (args: string[]): { child: ChildProcess; stderr: () => string } => {
    const child = spawn(process.execPath, [CLI(), ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2_000_000)));
    return { child, stderr: () => err };
  };
  const worker = spawnCli(['worker', '--concurrency', String(o.concurrency)]);
  const tRun = performance.now();
  const producer = spawnCli([
    'score', `s3://${o.bucket}/scale/`, '--manifest', `s3://${o.bucket}/input/${o.runId}.jsonl`, '--out', `s3://${o.bucket}/out`,
    '--run-id', o.runId, '--batch-size', String(o.batchSize), '--batches-per-shard', String(o.batchesPerShard),
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
    for (;;) {
      const status = await o.redis.hget(hash, 'status');
      if (status && status !== 'running') break;
      if (worker.child.exitCode !== null) throw new Error(`cxr worker exited: ${worker.stderr().slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`run ${o.runId} did not end in time`);
      await sleep(500);
    }
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
    return {
      n: o.n,
      batches: Math.ceil(o.n / o.batchSize),
      seconds: { writeInput, producer: producerSeconds, run: runSeconds, finalize: finalizeSeconds, verify: (performance.now() - tVerify) / 1000 },
      keysPerSec: { producer: Math.round(o.n / producerSeconds), finalize: Math.round(o.n / finalizeSeconds), run: Math.round(o.n / runSeconds) },
      peakRssBytes: { producer: peaks.producer, worker: peaks.worker, sandboxes: peaks.sandboxes },
      redis: { baselineBytes, peakBytes: peaks.redis, peakDeltaBytes: peaks.redis - baselineBytes },
      output,
      metrics: { state: metrics.state, counts: metrics.counts, rocAuc: metrics.classification?.rocAuc ?? null },
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

/** Streams the merged outputs: each of the N keys must be in predictions.jsonl exactly once (and in the CSV). */
async function verifyOutput(o: ScaleOptions): Promise<ScaleResult['output']> {
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
