import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CreateMultipartUploadCommand, AbortMultipartUploadCommand, type S3Client } from '@aws-sdk/client-s3';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/shared/s3/client.js';
import { ensureBucket } from '../../src/shared/s3/bucket.js';
import { getObjectBytes, listObjects, putObject } from '../../src/shared/s3/objects.js';
import { freeLoopbackPort } from '../../src/shared/services/free-port.js';
import { CLI, execCli, stopProcess, waitFor, type CliResult } from '../helpers/cli.js';
import { datasetFiles } from '../helpers/dataset.js';
import { startRecordingProxy, type RecordedRequest, type RecordingProxy } from '../helpers/recording-proxy.js';
import { aclRules, startSecureRedis, type SecureRedis } from '../helpers/secure-redis.js';

/** Values that must never show up in anything the run writes. */
const SENTINEL = {
  redisPassword: 'sntl-redis-pass-4e1f0a9b',
  wrongRedisPassword: 'sntl-wrong-pass-77c3d2e8',
  s3AccessKeyId: 'AKIASNTL5Q2W8E4R6T0Y',
  s3SecretKey: 'sntl-s3-secret-b6a9f1c7d3e5',
  s3SessionToken: 'sntl-s3-session-token-0d8c2b7a',
  webhookToken: 'sntl-hook-token-3f5e7a91',
} as const;
const KMS_KEY = 'arn:aws:kms:us-east-1:111122223333:key/cxr-test';
const PREFIX = 'cxrsnt';
const BUCKET = 'cxr-secrets';

/** Every sentinel found in `text`. */
const sentinelsIn = (text: string) =>
  Object.entries(SENTINEL)
    .filter(([, v]) => text.includes(v))
    .map(([k]) => k);

interface S3rverLike {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}

/**
 * A whole evaluation run (producer, worker, scoring, merge, report, history, webhook alert) with sentinel
 * credentials everywhere, plus a wrong Redis password: no byte it writes (stdout, stderr, logs, S3
 * objects, Redis keys) holds a sentinel, and every object it writes asks S3 for server-side encryption.
 */
describe('no credential in any output; results encrypted at rest', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cxr-secrets-'));
  let redis: SecureRedis;
  let s3rver: S3rverLike;
  let s3Direct: S3Client;
  let proxy: RecordingProxy;
  let hook: http.Server;
  const hookRequests: string[] = [];
  let hookUrl: string;
  let env: NodeJS.ProcessEnv;
  let worker: ChildProcess | undefined;
  let workerOutput = '';
  const outputs: CliResult[] = [];

  beforeAll(async () => {
    // Redis: the ACL user docs/security.md describes, with a sentinel password.
    redis = await startSecureRedis(dir, 'redis', [
      'user default off',
      `user cxr on >${SENTINEL.redisPassword} ${aclRules(PREFIX)}`,
    ]);
    // S3: s3rver in this process, knowing the sentinel key pair, behind a proxy that records every request.
    const require = createRequire(import.meta.url);
    require('s3rver/lib/models/account').DUMMY_ACCOUNT.createKeyPair(SENTINEL.s3AccessKeyId, SENTINEL.s3SecretKey);
    const S3rver = require('s3rver') as new (o: object) => S3rverLike;
    s3rver = new S3rver({
      address: '127.0.0.1',
      port: await freeLoopbackPort(),
      directory: path.join(dir, 's3'),
      silent: true,
    });
    const { port } = await s3rver.run();
    const direct = `http://127.0.0.1:${port}`;
    proxy = await startRecordingProxy(direct);
    const creds = {
      accessKeyId: SENTINEL.s3AccessKeyId,
      secretAccessKey: SENTINEL.s3SecretKey,
      sessionToken: SENTINEL.s3SessionToken,
    };
    s3Direct = createS3Client({ endpoint: direct, region: 'us-east-1', forcePathStyle: true }, creds);
    await ensureBucket(s3Direct, BUCKET);
    for (const label of ['NORMAL', 'PNEUMONIA'] as const) {
      for (const f of datasetFiles(label, 3, 20))
        await putObject(s3Direct, BUCKET, `labelled/${label}/${path.basename(f)}`, readFileSync(f), 'image/jpeg');
    }
    hook = http.createServer((req, res) => {
      hookRequests.push(req.url ?? '');
      req.resume().on('end', () => res.writeHead(204).end());
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hooks/cxr?token=${SENTINEL.webhookToken}`;
    env = {
      ...process.env,
      REDIS_URL: `redis://cxr:${SENTINEL.redisPassword}@127.0.0.1:${redis.port}`,
      S3_ENDPOINT: proxy.url,
      AWS_ACCESS_KEY_ID: SENTINEL.s3AccessKeyId,
      AWS_SECRET_ACCESS_KEY: SENTINEL.s3SecretKey,
      AWS_SESSION_TOKEN: SENTINEL.s3SessionToken,
      CXR_QUEUE_PREFIX: PREFIX,
      CXR_ENGINE: 'null',
      LOG_LEVEL: 'debug', // every log line the code has
    };
  });

  afterAll(async () => {
    if (worker) await stopProcess(worker);
    s3Direct?.destroy();
    await proxy?.close();
    await s3rver?.close();
    await new Promise((r) => hook?.close(r));
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs an evaluation end to end with sentinel credentials, SSE from the environment (worker) and from flags (CLI)', async () => {
    // The worker takes SSE from the environment, the eval command from its flags.
    worker = spawn(process.execPath, [CLI, 'worker', '--queues', 'score', '--concurrency', '1'], {
      env: { ...env, CXR_S3_SSE: 'aws:kms', CXR_S3_SSE_KMS_KEY_ID: KMS_KEY },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    worker.stdout!.on('data', (d: Buffer) => (workerOutput += d));
    worker.stderr!.on('data', (d: Buffer) => (workerOutput += d));
    const baseline = path.join(dir, 'baseline.json');
    // Scores all in the top bin: tonight's distribution is flagged as shifted, so the webhook is called.
    writeFileSync(
      baseline,
      JSON.stringify({
        metrics: { recall: 0.5, specificity: 0.5, rocAuc: 0.5 },
        scores: { histogram: [...new Array(19).fill(0), 50] },
      }),
    );
    const run = await execCli(
      [
        '--sse',
        'aws:kms',
        '--sse-kms-key-id',
        KMS_KEY,
        'eval',
        'run',
        '--data',
        `s3://${BUCKET}/labelled/`,
        '--out',
        `s3://${BUCKET}/evals`,
        '--batch-size',
        '4',
        '--baseline',
        baseline,
        '--webhook',
        'env:CXR_ALERT_WEBHOOK',
        '--date',
        '2026-01-02',
      ],
      { ...env, CXR_ALERT_WEBHOOK: hookUrl },
    );
    outputs.push(run);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      date: '2026-01-02',
      alerts: expect.arrayContaining([expect.objectContaining({ kind: 'distribution-shift' })]),
    });
    await waitFor('the webhook call', async () => (hookRequests.length ? true : undefined), 10_000, 100);
    // The run's report is written by the worker after the run ends.
    await waitFor(
      'the run report',
      async () =>
        (await listObjects(s3Direct, BUCKET, 'evals/runs/')).some((o) => o.key.endsWith('/report/index.html'))
          ? true
          : undefined,
      120_000,
      500,
    );

    // A mistyped password: one line naming user and host, for a command and for a worker.
    const wrong = {
      ...env,
      REDIS_URL: `redis://cxr:${SENTINEL.wrongRedisPassword}@127.0.0.1:${redis.port}`,
      LOG_LEVEL: 'debug',
    };
    for (const args of [
      ['status', 'some-run'],
      ['worker', '--concurrency', '1'],
    ]) {
      const r = await execCli(args, wrong);
      outputs.push(r);
      expect(r.code).toBe(1);
      expect(r.stderr.split('\n').filter((l) => l.startsWith('cxr: '))).toEqual([
        `cxr: authentication failed for user cxr at 127.0.0.1:${redis.port}`,
      ]);
    }
  });

  it('no sentinel in stdout, stderr, logs, S3 objects under the output prefix or Redis keys', async () => {
    const texts: [string, string][] = [];
    for (const [i, r] of outputs.entries())
      texts.push([`command ${i} stdout`, r.stdout], [`command ${i} stderr`, r.stderr]);
    texts.push(['worker stdout+stderr', workerOutput]);
    const objects = await listObjects(s3Direct, BUCKET, 'evals/');
    for (const o of objects)
      texts.push([
        `s3://${BUCKET}/${o.key}`,
        Buffer.from((await getObjectBytes(s3Direct, BUCKET, o.key)).bytes).toString('latin1'),
      ]);
    const r = new Redis(env.REDIS_URL!);
    try {
      // SCAN, not KEYS: the ACL of docs/security.md refuses KEYS.
      for await (const keys of r.scanStream({ match: `${PREFIX}:*`, count: 500 }) as AsyncIterable<string[]>) {
        for (const key of keys) texts.push([`redis ${key}`, JSON.stringify(await dumpKey(r, key))]);
      }
    } finally {
      r.disconnect();
    }
    // The grep finds what is there: the Redis config, the S3 requests and the webhook call must hold theirs.
    expect(sentinelsIn(readFileSync(redis.conf, 'utf8'))).toEqual(['redisPassword']);
    expect(sentinelsIn(JSON.stringify(proxy.requests.map((q) => q.headers)))).toEqual([
      's3AccessKeyId',
      's3SessionToken',
    ]);
    expect(sentinelsIn(hookRequests.join('\n'))).toEqual(['webhookToken']);
    // What was grepped is the whole run: debug logs of both processes, outputs of every stage, the queue's jobs.
    expect(workerOutput).toMatch(/"msg":"run finalized"/);
    expect(objects.map((o) => o.key)).toEqual(
      expect.arrayContaining([
        'evals/history.jsonl',
        'evals/2026-01-02/metrics.json',
        'evals/2026-01-02/report/index.html',
      ]),
    );
    expect(objects.filter((o) => /\/parts\/\d+\.jsonl$/.test(o.key)).length).toBe(2);
    expect(texts.filter(([name]) => name.startsWith('redis ')).length).toBeGreaterThan(3);

    const leaks = texts.flatMap(([name, text]) => sentinelsIn(text).map((s) => `${s} in ${name}`));
    expect(leaks).toEqual([]);
  });

  it('every object the run wrote was PUT with the SSE headers (requests captured on loopback)', () => {
    const writes = proxy.requests.filter(isObjectWrite);
    const keys = writes.map((w) => decodeURIComponent(new URL(w.url, 'http://x').pathname));
    expect(keys).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^\/cxr-secrets\/evals\/runs\/.+\/manifest\.json$/),
        expect.stringMatching(/\/parts\/000000\.jsonl$/),
        expect.stringMatching(/\/predictions\.jsonl$/),
        expect.stringMatching(/\/runs\/.+\/report\/index\.html$/),
        '/cxr-secrets/evals/2026-01-02/metrics.json',
        '/cxr-secrets/evals/history.jsonl',
      ]),
    );
    const unencrypted = writes.filter(
      (w) =>
        w.headers['x-amz-server-side-encryption'] !== 'aws:kms' ||
        w.headers['x-amz-server-side-encryption-aws-kms-key-id'] !== KMS_KEY,
    );
    expect(unencrypted.map((w) => `${w.method} ${w.url}`)).toEqual([]);
  });

  it('multipart uploads (CreateMultipartUpload) carry the SSE headers too; a client without SSE sends none', async () => {
    const creds = { accessKeyId: SENTINEL.s3AccessKeyId, secretAccessKey: SENTINEL.s3SecretKey };
    const sent = (client: S3Client, key: string) => async () => {
      const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }));
      await client.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId })).catch(() => undefined); // s3rver 3.7 answers 405
      return proxy.requests.find((q) => q.method === 'POST' && q.url.startsWith(`/${BUCKET}/${key}?uploads`));
    };
    const encrypted = createS3Client(
      { endpoint: proxy.url, region: 'us-east-1', forcePathStyle: true, sse: { ServerSideEncryption: 'AES256' } },
      creds,
    );
    const plain = createS3Client({ endpoint: proxy.url, region: 'us-east-1', forcePathStyle: true }, creds);
    try {
      expect((await sent(encrypted, 'mpu/encrypted.bin')())?.headers['x-amz-server-side-encryption']).toBe('AES256');
      const control = await sent(plain, 'mpu/plain.bin')();
      expect(control).toBeDefined();
      expect(control?.headers['x-amz-server-side-encryption']).toBeUndefined();
    } finally {
      encrypted.destroy();
      plain.destroy();
    }
  });
});

/** PUT of an object or the start of a multipart upload (UploadPart and CompleteMultipartUpload inherit). */
function isObjectWrite(q: RecordedRequest): boolean {
  const query = new URL(q.url, 'http://x').searchParams;
  return (
    (q.method === 'PUT' &&
      !query.has('partNumber') &&
      new URL(q.url, 'http://x').pathname.split('/').filter(Boolean).length > 1) ||
    (q.method === 'POST' && query.has('uploads'))
  );
}

/** A key's value, whatever its type. */
async function dumpKey(r: Redis, key: string): Promise<unknown> {
  switch (await r.type(key)) {
    case 'string':
      return r.get(key);
    case 'hash':
      return r.hgetall(key);
    case 'list':
      return r.lrange(key, 0, -1);
    case 'set':
      return r.smembers(key);
    case 'zset':
      return r.zrange(key, 0, -1, 'WITHSCORES');
    case 'stream':
      return r.xrange(key, '-', '+');
    default:
      return null;
  }
}
