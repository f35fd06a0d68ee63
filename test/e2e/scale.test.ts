import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Redis } from 'ioredis';
import type { Config } from '../../src/shared/config.js';
import { scaleRun, type ScaleResult } from '../../src/bench/scale-run.js';
import { childEnv, freshBucket, testConfig, testRedis, testS3 } from '../helpers/services.js';

/**
 * The real producer (`cxr score --manifest`), Redis, a null-engine `cxr worker` and the real finalize on the
 * S3 server, at N = 100 k and N = 1 M keys: every key comes out exactly once, and neither the processes'
 * peak RSS nor Redis's peak memory for the run grows more than 1.5x while the run grows 10x.
 */
describe('a run at 100 k and at 1 M keys (synthetic input manifest, null engine)', () => {
  let config: Config;
  let s3: S3Client;
  let redis: Redis;
  let bucket: string;
  const results: ScaleResult[] = [];

  beforeAll(async () => {
    config = testConfig();
    s3 = testS3(config);
    redis = testRedis(config);
    bucket = await freshBucket(s3, 'scale');
  });

  afterAll(async () => {
    redis?.disconnect();
    s3?.destroy();
  });

  it.each([100_000, 1_000_000])(
    'N = %i: every key merged exactly once',
    async (n) => {
      const r = await scaleRun({
        n,
        bucket,
        runId: `scale-${n}`,
        batchSize: 500,
        batchesPerShard: 32,
        concurrency: 2,
        env: childEnv(config),
        s3,
        redis,
        queuePrefix: config.queuePrefix,
        log: (l) => process.stderr.write(`${l}\n`),
      });
      process.stderr.write(`scale N=${n}: ${JSON.stringify(r)}\n`);
      expect(r.output).toEqual({ predictions: n, failures: 0, csvRows: n, missing: 0, duplicated: 0 });
      expect(r.metrics.state).toBe('done');
      expect(r.metrics.counts).toMatchObject({
        total: n,
        scored: n,
        failed: 0,
        labelled: n,
        batches: Math.ceil(n / 500),
      });
      expect(r.metrics.rocAuc).toBe(0.5); // one fixed probability: every pair ties
      results.push(r);
    },
    1_800_000,
  );

  it('peak RSS of producer, worker and its sandboxes (batches and finalize), and peak Redis memory, grow at most 1.5x from 100 k to 1 M', () => {
    expect(results).toHaveLength(2);
    const [small, large] = results;
    const ratios = {
      producer: large.peakRssBytes.producer / small.peakRssBytes.producer,
      worker: large.peakRssBytes.worker / small.peakRssBytes.worker,
      sandboxes: large.peakRssBytes.sandboxes / small.peakRssBytes.sandboxes,
      redis: large.redis.peakDeltaBytes / Math.max(1, small.redis.peakDeltaBytes),
    };
    process.stderr.write(`scale ratios 1M/100k: ${JSON.stringify(ratios)}\n`);
    for (const [name, ratio] of Object.entries(ratios)) expect(ratio, name).toBeLessThanOrEqual(1.5);
    for (const r of results)
      expect(r.peakRssBytes.producer * r.peakRssBytes.worker * r.peakRssBytes.sandboxes).toBeGreaterThan(0);
  });
});
