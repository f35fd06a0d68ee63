import { describe, expect, it } from 'vitest';
import { PROBE_NAME, conditionalWrites, putIfAbsent } from '../../src/shared/s3/put-if-absent.js';
import { getObjectBytes, getCompleteIfExists } from '../../src/shared/s3/objects.js';
import { RedisClaims } from '../../src/shared/redis-claims.js';
import { freshBucket, testConfig, testRedis, testS3 } from '../helpers/services.js';

describe('putIfAbsent on the S3 server (which ignores If-None-Match) with Redis claims', () => {
  it('detects that conditional writes are not honoured, and leaves its probe at the given prefix', async () => {
    const config = testConfig();
    const [a, b] = [testS3(config), testS3(config)];
    const bucket = await freshBucket(a);
    expect(await conditionalWrites(a, bucket, 'out/')).toBe(false);
    expect(await getCompleteIfExists(a, bucket, `out/${PROBE_NAME}`)).toBeDefined();
    // A second process finds the probe already there and still reaches the same answer.
    expect(await conditionalWrites(b, bucket, 'out/')).toBe(false);
    a.destroy();
    b.destroy();
  });

  it('of 8 concurrent writers with different bodies exactly one wins, and every loser reads the whole winning object', async () => {
    const config = testConfig();
    const redis = testRedis(config);
    const claims = new RedisClaims(redis, config.queuePrefix);
    const clients = Array.from({ length: 8 }, () => testS3(config));
    const bucket = await freshBucket(clients[0]);
    // Large enough bodies (1.5 MB) that a write is in flight while the others look.
    const bodies = clients.map((_, i) => new Uint8Array(1_500_000).fill(i + 1));
    const results = await Promise.all(
      clients.map((s3, i) =>
        putIfAbsent(s3, claims, bucket, 'out/run/manifest.json', bodies[i], 'application/json', {
          probePrefix: 'out/',
          waitMs: 60_000,
        }),
      ),
    );
    const winners = results.flatMap((r, i) => (r.created ? [i] : []));
    expect(winners).toHaveLength(1);
    const stored = Buffer.from((await getObjectBytes(clients[0], bucket, 'out/run/manifest.json')).bytes);
    expect(Buffer.compare(stored, Buffer.from(bodies[winners[0]]))).toBe(0);
    for (const r of results) if (!r.created) expect(Buffer.compare(Buffer.from(r.bytes), stored)).toBe(0);
    for (const s3 of clients) s3.destroy();
    redis.disconnect();
  });
});
