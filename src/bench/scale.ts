import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { loadConfig } from '../shared/config.js';
import { createS3Client } from '../shared/s3/client.js';
import { ensureBucket } from '../shared/s3/bucket.js';
import { ensureLocalStack } from '../shared/services/local-stack.js';
import { useLocalS3Credentials } from '../shared/services/s3-server.js';
import { scaleRun } from './scale-run.js';

/**
 * npm run bench:scale [-- --n 10000000 --batch-size 500 --batches-per-shard 32 --concurrency 2
 *                        --refinalize --refinalize-shards 3 --refinalize-keys 100]
 * A synthetic run of N keys through `cxr score --manifest`, a null-engine `cxr worker` and its finalize (see
 * scale-run.ts), on the S3 server here (REDIS_URL / S3_ENDPOINT when set, else private redis-server and s3rver). With --refinalize,
 * some keys of a few shards then fail, the run is resumed and finalized again (its time and reads reported).
 * Ends with one JSON line. Listing speed is `npm run bench:list`'s.
 */
const argText = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const arg = (name: string, fallback: number) => Number(argText(name) ?? fallback);
const n = arg('n', 10_000_000);
const batchSize = arg('batch-size', 500);
const batchesPerShard = arg('batches-per-shard', 32);
const concurrency = arg('concurrency', os.availableParallelism());
const refinalize = process.argv.includes('--refinalize')
  ? { shards: arg('refinalize-shards', 3), keys: arg('refinalize-keys', 100) }
  : undefined;
const log = (s: string) => process.stderr.write(s + '\n');

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'cxr-bench-scale-'));
  const stack = await ensureLocalStack(process.env, dataDir);
  useLocalS3Credentials(process.env);
  const prefix = `bs${randomUUID().slice(0, 6)}`;
  const config = loadConfig({
    ...process.env,
    REDIS_URL: stack.redisUrl,
    S3_ENDPOINT: stack.s3Endpoint,
    CXR_QUEUE_PREFIX: prefix,
  });
  const s3 = createS3Client(config.s3);
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
  const bucket = `scale-bench-${randomUUID().slice(0, 8)}`;
  try {
    await ensureBucket(s3, bucket);
    log(`${stack.started.join('; ') || 'services from REDIS_URL / S3_ENDPOINT'}`);

    const env = {
      ...process.env,
      REDIS_URL: config.redisUrl,
      S3_ENDPOINT: config.s3.endpoint,
      CXR_QUEUE_PREFIX: prefix,
      LOG_LEVEL: 'info',
    };
    const r = await scaleRun({
      n,
      bucket,
      runId: `scale-${n}`,
      batchSize,
      batchesPerShard,
      concurrency,
      env,
      s3,
      redis,
      queuePrefix: prefix,
      log,
      refinalize,
    });
    for (const output of [r.output, r.refinalize?.output]) {
      if (output && (output.missing || output.duplicated || output.predictions !== n))
        throw new Error(`merged output is wrong: ${JSON.stringify(output)}`);
    }
    console.log(
      JSON.stringify({
        n,
        batchSize,
        batches: r.batches,
        concurrency,
        keysPerSec: r.keysPerSec,
        seconds: r.seconds,
        peakRssBytes: r.peakRssBytes,
        redisPeakBytes: r.redis.peakBytes,
        redisRunPeakBytes: r.redis.peakDeltaBytes,
        output: r.output,
        finalizeReads: r.finalizeReads,
        ...(r.refinalize ? { refinalize: r.refinalize } : {}),
        loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
      }),
    );
  } finally {
    redis.disconnect();
    s3.destroy();
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
