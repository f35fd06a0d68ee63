import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pLimit from 'p-limit';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { createS3Client } from '../../src/shared/s3/client.js';
import { ensureBucket } from '../../src/shared/s3/bucket.js';
import { putObject } from '../../src/shared/s3/objects.js';
import { SCORE_QUEUE } from '../../src/shared/queue.js';
import { RunStore } from '../../src/run/run-store.js';
import { repoRoot } from '../../src/shared/paths.js';
import type { LocalService } from '../../src/shared/services/child-service.js';
import { freeLoopbackPort } from '../../src/shared/services/free-port.js';
import { startRedisServer } from '../../src/shared/services/redis-server.js';
import { LOCAL_S3_CREDENTIALS, startS3Server } from '../../src/shared/services/s3-server.js';
import { CLI, waitFor } from '../helpers/cli.js';
import { DATASET } from '../helpers/dataset.js';

export { waitFor };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A redis-server (append-only file, so it can restart with or without its data) and an S3 server, each restartable on its port. */
export class FaultStack {
  private redis?: LocalService;
  private s3srv?: LocalService;
  readonly s3: S3Client;

  private constructor(
    readonly root: string,
    readonly redisPort: number,
    readonly s3Port: number,
  ) {
    this.s3 = createS3Client({ endpoint: this.s3Endpoint, region: 'us-east-1', forcePathStyle: true });
  }

  static async start(): Promise<FaultStack> {
    process.env.AWS_ACCESS_KEY_ID ??= LOCAL_S3_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY ??= LOCAL_S3_CREDENTIALS.secretAccessKey;
    const stack = new FaultStack(
      mkdtempSync(path.join(os.tmpdir(), 'cxr-faults-')),
      await freeLoopbackPort(),
      await freeLoopbackPort(),
    );
    await stack.startRedis();
    await stack.startS3();
    return stack;
  }

  get redisUrl(): string {
    return `redis://127.0.0.1:${this.redisPort}`;
  }

  get s3Endpoint(): string {
    return `http://127.0.0.1:${this.s3Port}`;
  }

  private get aofDir(): string {
    const dir = path.join(this.root, 'redis');
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  async startRedis(): Promise<void> {
    this.redis = await startRedisServer(this.redisPort, { aofDir: this.aofDir });
  }

  /** SIGTERM (Redis flushes its append-only file); startRedis() brings it back on the same port. */
  async stopRedis(): Promise<void> {
    await this.redis?.stop();
  }

  /** SIGTERM (Redis flushes its append-only file), then start again on the same port, with its data or without. */
  async restartRedis(keepData: boolean): Promise<void> {
    await this.redis?.stop();
    if (!keepData) rmSync(this.aofDir, { recursive: true, force: true });
    await this.startRedis();
  }

  async startS3(): Promise<void> {
    this.s3srv = await startS3Server(path.join(this.root, 's3'), this.s3Port);
  }

  async stopS3(): Promise<void> {
    await this.s3srv?.stop();
  }

  /** Environment for `cxr` processes on this stack, with their own queue prefix. */
  env(prefix: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return {
      ...process.env,
      REDIS_URL: this.redisUrl,
      S3_ENDPOINT: this.s3Endpoint,
      CXR_QUEUE_PREFIX: prefix,
      LOG_LEVEL: 'info',
      NODE_NO_WARNINGS: '1',
      ...extra,
    };
  }

  async close(): Promise<void> {
    this.s3.destroy();
    await Promise.all([this.redis?.stop(), this.s3srv?.stop()]);
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** A Redis client for the test itself that rides out restarts. */
export function testClients(stack: FaultStack, prefix: string) {
  const redis = new Redis(stack.redisUrl, { maxRetriesPerRequest: null, retryStrategy: () => 200 });
  redis.on('error', () => undefined);
  const queue = new Queue(SCORE_QUEUE, { connection: redis, prefix });
  queue.on('error', () => undefined);
  return {
    redis,
    queue,
    store: new RunStore(redis, prefix),
    close: async () => (await queue.close().catch(() => undefined), redis.disconnect()),
  };
}

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

/** A `cxr worker` process in its own process group (so its sandboxes can be stopped with it); stderr is kept as JSON log lines. */
export class WorkerProc {
  static readonly all = new Set<WorkerProc>();
  readonly child: ChildProcess;
  readonly lines: LogLine[] = [];
  readonly raw: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;

  constructor(args: string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, [CLI, 'worker', ...args], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    });
    let buf = '';
    this.child.stderr!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        this.raw.push(line);
        try {
          this.lines.push(JSON.parse(line) as LogLine);
        } catch {
          /* not a log line */
        }
      }
    });
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
    );
    WorkerProc.all.add(this);
    void this.exited.then(() => WorkerProc.all.delete(this));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async ready(timeoutMs = 120_000): Promise<this> {
    await waitFor(
      `worker ${this.pid} to start`,
      async () => {
        if (!this.running) throw new Error(`worker exited early:\n${this.raw.slice(-5).join('\n')}`);
        return this.lines.some((l) => l.msg === 'worker started') ? true : undefined;
      },
      timeoutMs,
      100,
    );
    return this;
  }

  /** Its sandboxed child processes (direct children). */
  sandboxPids(): number[] {
    return childPids(this.pid);
  }

  signal(sig: NodeJS.Signals, group = false): void {
    try {
      process.kill(group ? -this.pid : this.pid, sig);
    } catch {
      /* already gone */
    }
  }

  /** SIGKILL to the parent only, like a crashed host process; resolves when it has exited. */
  async crash(): Promise<void> {
    this.signal('SIGKILL');
    await this.exited;
  }

  static async killAll(): Promise<void> {
    const all = [...WorkerProc.all];
    for (const w of all) w.signal('SIGKILL', true);
    await Promise.all(all.map((w) => w.exited));
  }
}

export function childPids(ppid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid) out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
    return state !== 'Z';
  } catch {
    return false;
  }
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Starts `node SCRIPT ...`; `result` settles when it exits (it never rejects on a non-zero code). */
export function startNode(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): { child: ChildProcess; result: Promise<CliResult> } {
  const started = Date.now();
  const child = spawn(process.execPath, [script, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d));
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const result = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }));
  });
  return { child, result };
}

/** Starts `cxr ...`, as startNode. */
export const startCli = (args: string[], env: NodeJS.ProcessEnv) => startNode(CLI, args, env);

export const cli = (args: string[], env: NodeJS.ProcessEnv) => startCli(args, env).result;

/** Environment that makes a Node process print what it leaves open at exit (test/helpers/print-handles.mjs). */
export const handlesPreload: NodeJS.ProcessEnv = {
  NODE_OPTIONS: `--import=${path.join(repoRoot(), 'test', 'helpers', 'print-handles.mjs')}`,
  HANDLES_TRACE: '1',
};

/**
 * What the process left open at exit (print-handles.mjs) besides its stdio pipes and two bounded leftovers:
 * ioredis's timer after disconnect() (it destroys a socket not closed within 2 s; the socket is gone), and a
 * sandbox BullMQ is killing (its SIGKILL timer and the child: a sandbox exits when its parent's IPC channel
 * closes, which the demo case checks).
 */
export function openAtExit(stderr: string): string[] {
  const line = stderr.split('\n').findLast((l) => l.startsWith('{"handlesAtExit"'));
  expect(line, 'the preload printed the handles at exit').toBeDefined();
  const timers = stderr
    .split('\n')
    .filter((l) => l.startsWith('{"timerAtExit"'))
    .map((l) => (JSON.parse(l) as { timerAtExit: string }).timerAtExit);
  const killing = timers.filter((t) => /bullmq\/dist\/cjs\/classes\/child\.js/.test(t)).length;
  let bounded = killing + timers.filter((t) => /ioredis\/built\/connectors\/AbstractConnector\.js/.test(t)).length;
  let children = killing;
  const left = (JSON.parse(line!) as { handlesAtExit: string[] }).handlesAtExit.filter(
    (h) =>
      !/^(PipeWrap|TTYWrap)$/.test(h) &&
      !(h === 'Timeout' && bounded-- > 0) &&
      !(h === 'ProcessWrap' && children-- > 0),
  );
  if (left.length) process.stderr.write(`${timers.join('\n')}\n`);
  return left;
}

/** The last line of a CLI's stderr that is not a JSON log line or a progress bar. */
export function plainLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('{') && !/^\s*[░█]/.test(l));
}

let pool: Buffer[] | undefined;

/** JPEGs from the shared dataset, read once (NORMAL and PNEUMONIA alternating). */
export function imagePool(n = 96): Buffer[] {
  if (!pool) {
    const files = ['NORMAL', 'PNEUMONIA'].map((c) =>
      readdirSync(path.join(DATASET, c))
        .sort()
        .slice(0, n / 2)
        .map((f) => path.join(DATASET, c, f)),
    );
    pool = files[0].flatMap((f, i) => [f, files[1][i]]).map((f) => readFileSync(f));
  }
  return pool;
}

/** Uploads n unlabelled images (no class folder, so no report is rendered) as PREFIX/img-NNNN.jpeg; returns their keys. */
export async function putImages(s3: S3Client, bucket: string, prefix: string, n: number, from = 0): Promise<string[]> {
  const images = imagePool();
  const limit = pLimit(8);
  const keys = Array.from({ length: n }, (_, i) => `${prefix}img-${String(from + i).padStart(4, '0')}.jpeg`);
  await Promise.all(
    keys.map((k, i) => limit(() => putObject(s3, bucket, k, images[(from + i) % images.length], 'image/jpeg'))),
  );
  return keys;
}

export async function freshBucket(s3: S3Client): Promise<string> {
  const bucket = `faults-${randomUUID().slice(0, 8)}`;
  await ensureBucket(s3, bucket);
  return bucket;
}

export { sleep };

export interface FaultSuite {
  stack: FaultStack;
  bucket: string;
  t: ReturnType<typeof testClients>;
}

/** A suite on its own FaultStack and bucket (filled in before all), workers killed after each test, all stopped after. */
export function faultSuite(prefix: string): FaultSuite {
  const suite = {} as FaultSuite;
  beforeAll(async () => {
    suite.stack = await FaultStack.start();
    suite.bucket = await freshBucket(suite.stack.s3);
    suite.t = testClients(suite.stack, prefix);
  });
  afterEach(() => WorkerProc.killAll());
  afterAll(async () => {
    await WorkerProc.killAll();
    await suite.t?.close();
    await suite.stack?.close();
  });
  return suite;
}

/** `cxr score` of run RUN_ID over the suite bucket's RUN_ID/ images, in batches of 4, outputs under out/. */
export function scoreArgs(suite: FaultSuite, runId: string, ...extra: string[]): string[] {
  const { bucket } = suite;
  return [
    'score',
    `s3://${bucket}/${runId}/`,
    '--out',
    `s3://${bucket}/out`,
    '--batch-size',
    '4',
    '--run-id',
    runId,
    ...extra,
  ];
}

/** Uploads `images` images under RUN_ID/ and enqueues them as run RUN_ID (no wait). */
export async function enqueueRun(
  suite: FaultSuite,
  env: NodeJS.ProcessEnv,
  runId: string,
  images: number,
): Promise<void> {
  await putImages(suite.stack.s3, suite.bucket, `${runId}/`, images);
  const r = await cli(scoreArgs(suite, runId), env);
  if (r.code !== 0) throw new Error(`cxr score ${runId} exited ${r.code}: ${r.stderr}`);
}

/** Waits for run RUN_ID to be done in Redis. */
export const runDone = (suite: FaultSuite, runId: string, timeoutMs = 90_000) =>
  waitFor(
    `${runId} done`,
    async () => ((await suite.t.store.get(runId))?.status === 'done' ? true : undefined),
    timeoutMs,
    200,
  );
