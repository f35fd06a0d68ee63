import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Redis } from 'ioredis';
import type { Config } from '../../src/shared/config.js';
import { scaleRun, type ScaleResult } from '../../src/bench/scale-run.js';
import { runLayout } from '../../src/run/layout.js';
import { loadRunRecord, readManifest } from '../../src/run/run-record.js';
import { ShardFingerprints } from '../../src/run/checkpoint.js';
import { buildRunMetrics, type RunMetrics } from '../../src/run/run-metrics.js';
import { getTextIfExists } from '../../src/shared/s3/objects.js';
import { mergeRun } from '../../src/run/merge-run.js';
import { childEnv, freshBucket, testConfig, testRedis, testS3 } from '../helpers/services.js';
import { startRecordingProxy, type RecordedRequest, type RecordingProxy } from '../helpers/recording-proxy.js';

const N = 24_000;
const BATCH = 500;
const PER_SHARD = 4; // 2,000 keys a manifest shard: 12 shards
const RUN = 'refinalize';

/**
 * The real producer, Redis, a null-engine worker and the real finalize on the S3 server: a finished run
 * gets failures in 3 of its 12 manifest shards (parts rewritten), is resumed and finalized again. Every S3
 * request of the worker and of the resume goes through a proxy of its own that records it, so the test
 * sees which objects each read.
 */
describe('re-finalizing a resumed run reads only the shards with new parts (merge checkpoints)', () => {
  let config: Config;
  let s3: S3Client;
  let redis: Redis;
  let bucket: string;
  let run: ScaleResult;
  let workerProxy: RecordingProxy;
  let resumeProxy: RecordingProxy;
  const marks: Partial<Record<'resume' | 'finalize' | 'ended', number>> = {};

  beforeAll(async () => {
    config = testConfig();
    s3 = testS3(config);
    redis = testRedis(config);
    bucket = await freshBucket(s3, 'refinal');
    [workerProxy, resumeProxy] = await Promise.all([
      startRecordingProxy(config.s3.endpoint!),
      startRecordingProxy(config.s3.endpoint!),
    ]);
    run = await scaleRun({
      n: N,
      bucket,
      runId: RUN,
      batchSize: BATCH,
      batchesPerShard: PER_SHARD,
      concurrency: 2,
      env: { ...childEnv(config), S3_ENDPOINT: workerProxy.url },
      s3,
      redis,
      queuePrefix: config.queuePrefix,
      refinalize: {
        shards: 3,
        keys: 40,
        resumeEnv: { S3_ENDPOINT: resumeProxy.url },
        onPhase: (p) => (marks[p] = workerProxy.requests.length),
      },
    });
  }, 600_000);

  afterAll(async () => {
    await Promise.all([workerProxy?.close(), resumeProxy?.close()]);
    redis?.disconnect();
    s3?.destroy();
  });

  /** Object GETs by key (run-relative), of requests [from, to). */
  const gets = (requests: RecordedRequest[], from = 0, to = requests.length) => {
    const out = new Map<string, number>();
    const prefix = `/${bucket}/out/${RUN}/`;
    for (const q of requests.slice(from, to)) {
      const path = decodeURIComponent(q.url.split('?')[0]);
      if (q.method !== 'GET' || !path.startsWith(prefix) || /[?&]list-type=/.test(q.url)) continue;
      const key = path.slice(prefix.length);
      out.set(key, (out.get(key) ?? 0) + 1);
    }
    return out;
  };
  const shardOfPart = (key: string) => {
    const m = /^parts\/(\d+)(?:\.g\d+)?\.(?:jsonl|meta\.json)$/.exec(key);
    return m ? Math.floor(Number(m[1]) / PER_SHARD) : undefined;
  };
  const shardOfCheckpoint = (key: string) => {
    const m = /^merged\/(\d+)\./.exec(key);
    return m ? Number(m[1]) : undefined;
  };

  it('ends with every key exactly once, the failed keys scored again', () => {
    const r = run.refinalize!;
    expect(run.output).toEqual({ predictions: N, failures: 0, csvRows: N, missing: 0, duplicated: 0 });
    expect(r.failedShards).toHaveLength(3);
    expect(r.failedKeys).toBe(3 * 40);
    expect(r.resume.missing).toBe(r.failedKeys);
    expect(r.output).toEqual({ predictions: N, failures: 0, csvRows: N, missing: 0, duplicated: 0 });
    expect(r.metrics).toMatchObject({ state: 'done', counts: { total: N, scored: N, failed: 0, labelled: N } });
    expect(r.finalize.shards).toEqual({ checkpointed: 9, merged: 3 });
  });

  it('reads no part of an unchanged shard in the resume nor in the second finalize, and each checkpoint object at most once in each', () => {
    const failed = new Set(run.refinalize!.failedShards);
    const resumeGets = gets(resumeProxy.requests);
    const finalizeGets = gets(workerProxy.requests, marks.resume, marks.ended);
    for (const [name, got] of [
      ['resume', resumeGets],
      ['finalize', finalizeGets],
    ] as const) {
      const unchangedParts = [...got.keys()].filter(
        (k) => shardOfPart(k) !== undefined && !failed.has(shardOfPart(k)!),
      );
      expect(unchangedParts, `${name}: parts of unchanged shards read`).toEqual([]);
      const readTwice = [...got].filter(([k, n]) => k.startsWith('merged/') && n > 1);
      expect(readTwice, `${name}: checkpoint objects read more than once`).toEqual([]);
      // The shards that changed were read from their parts.
      expect(
        [...got.keys()].some((k) => failed.has(shardOfPart(k) ?? -1)),
        name,
      ).toBe(true);
    }
    // The resume reads an unchanged shard's checkpoint index only (it records no failures); the finalize its outputs too.
    for (let shard = 0; shard < 12; shard++) {
      if (failed.has(shard)) continue;
      const read = (got: Map<string, number>) => [...got.keys()].filter((k) => shardOfCheckpoint(k) === shard).sort();
      const stem = `merged/${String(shard).padStart(6, '0')}`;
      expect(read(resumeGets)).toEqual([`${stem}.json`]);
      expect(read(finalizeGets)).toEqual(
        ['.csv', '.failures.jsonl', '.json', '.predictions.jsonl', '.scores.bin'].map((x) => stem + x),
      );
    }
  });

  it('gives the metrics and outputs of a merge from scratch', async () => {
    const layout = runLayout({ bucket, prefix: 'out' }, RUN);
    const read = async () =>
      Promise.all(
        [layout.predictionsJsonl, layout.predictionsCsv, layout.failures].map((k) => getTextIfExists(s3, bucket, k)),
      );
    const [metricsText, outputs] = await Promise.all([getTextIfExists(s3, bucket, layout.metrics), read()]);
    const metrics = JSON.parse(metricsText!) as RunMetrics;
    const manifest = await readManifest(s3, { bucket, prefix: 'out' }, RUN);
    // A record whose fingerprints match no checkpoint: every shard merged from its parts again.
    const record = { ...(await loadRunRecord(s3, manifest)), fingerprints: new ShardFingerprints() };
    const scratch = await mergeRun(s3, record);
    expect(scratch.shards).toEqual({ checkpointed: 0, merged: 12 });
    expect(
      buildRunMetrics(manifest, scratch.tally, new Date(metrics.finishedAt), {
        state: metrics.state,
        generation: metrics.generation,
      }),
    ).toEqual(metrics);
    expect(metrics.throughput.attempts.map((a) => a.generation)).toEqual([0, 1]);
    expect(await read()).toEqual(outputs);
  });
});
