import pLimit from 'p-limit';
import { describe, expect, it } from 'vitest';
import { listImages } from '../../src/producer/list-images.js';
import { getObjectBytes, putObject } from '../../src/shared/s3/objects.js';
import { freshBucket, testConfig, testS3 } from '../helpers/services.js';

describe('S3 server', () => {
  it('lists a prefix of more than 1,000 keys across several pages', async () => {
    const s3 = testS3(testConfig());
    const bucket = await freshBucket(s3);
    const keys = Array.from({ length: 1205 }, (_, i) => `scans/${i % 2 ? 'NORMAL' : 'PNEUMONIA'}/img-${String(i).padStart(5, '0')}.jpeg`);
    const limit = pLimit(32);
    await Promise.all(keys.map((k) => limit(() => putObject(s3, bucket, k, 'x', 'image/jpeg'))));
    await putObject(s3, bucket, 'scans/readme.txt', 'not an image', 'text/plain');
    await putObject(s3, bucket, 'other/img.jpeg', 'x', 'image/jpeg');

    const pages: number[] = [];
    const listed = await listImages(s3, { bucket, prefix: 'scans/' }, (n) => pages.push(n));
    expect(pages.length).toBeGreaterThanOrEqual(2);
    expect(listed.map((o) => o.key)).toEqual([...keys].sort());
    expect(listed[0].etag).toMatch(/^[0-9a-f]{32}$/);
    s3.destroy();
  });

  it('stores uploaded bytes unchanged', async () => {
    const s3 = testS3(testConfig());
    const bucket = await freshBucket(s3);
    const body = new Uint8Array(300_000).map((_, i) => (i * 7919) % 251);
    await putObject(s3, bucket, 'blob.bin', body, 'application/octet-stream');
    const { bytes } = await getObjectBytes(s3, bucket, 'blob.bin');
    expect(Buffer.compare(Buffer.from(bytes), Buffer.from(body))).toBe(0);
    s3.destroy();
  });
});
