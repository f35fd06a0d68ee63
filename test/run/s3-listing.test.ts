import pLimit from 'p-limit';
import { describe, expect, it } from 'vitest';
import { listImages } from '../../src/shared/s3/list-images.js';
import { getObjectBytes, putObject } from '../../src/shared/s3/objects.js';
import { discoverPrefixes, listingPages, parallelListingPages, type SourcePage } from '../../src/run/sources.js';
import { openUploadStream } from '../../src/shared/s3/upload-stream.js';
import { freshBucket, testConfig, testS3 } from '../helpers/services.js';

describe('S3 server', () => {
  it('lists a prefix of more than 1,000 keys across several pages', async () => {
    const s3 = testS3(testConfig());
    const bucket = await freshBucket(s3);
    const keys = Array.from(
      { length: 1205 },
      (_, i) => `scans/${i % 2 ? 'NORMAL' : 'PNEUMONIA'}/img-${String(i).padStart(5, '0')}.jpeg`,
    );
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

  it('lists sub-prefixes in parallel (found with delimiters, or named) in the same key order as one listing', async () => {
    const s3 = testS3(testConfig());
    const bucket = await freshBucket(s3);
    const keys = [
      ...Array.from({ length: 1100 }, (_, i) => `arch/site-${i % 5}/p${i % 3}/img-${String(i).padStart(5, '0')}.png`),
      ...Array.from({ length: 20 }, (_, i) => `arch/site-${i % 5}/direct-${i}.png`),
      'arch/loose.png',
      'arch/site-1/loose.png',
      'arch/site-2/p0/readme.txt',
      // Not 'arch/site-1.png': S3 lists it before 'arch/site-1/…' (byte order), s3rver after. And objects
      // directly in each sub-prefix: s3rver 3.7 reports a common prefix only for a folder holding an object itself.
    ];
    const limit = pLimit(32);
    await Promise.all(keys.map((k) => limit(() => putObject(s3, bucket, k, 'x', 'image/png'))));
    const collect = async (pages: AsyncGenerator<SourcePage>) => {
      const out: string[] = [];
      const skipped: string[] = [];
      for await (const p of pages) {
        out.push(...p.images.map((o) => o.key));
        skipped.push(...p.skipped.map((o) => o.key));
      }
      return { out, skipped };
    };
    const one = await collect(listingPages(s3, { bucket, prefix: 'arch/' }));
    expect(one.out).toEqual(keys.filter((k) => k.endsWith('.png')).sort());
    expect(one.skipped).toEqual(['arch/site-2/p0/readme.txt']);
    for (const depth of [1, 2]) {
      const units = await discoverPrefixes(s3, bucket, 'arch/', depth);
      expect(units.length).toBeGreaterThan(depth === 1 ? 5 : 15);
      expect(await collect(parallelListingPages(s3, bucket, units, 4, 2))).toEqual(one);
    }
    const named = await collect(
      parallelListingPages(s3, bucket, [{ prefix: 'arch/site-0/' }, { prefix: 'arch/site-3/' }], 2),
    );
    expect(named.out).toEqual(one.out.filter((k) => /^arch\/site-[03]\//.test(k)));
    s3.destroy();
  });

  it('takes a multipart upload of many parts, as the finalize writes its outputs', async () => {
    const s3 = testS3(testConfig());
    const bucket = await freshBucket(s3);
    const up = openUploadStream(s3, bucket, 'big.jsonl', 'application/x-ndjson');
    const line = (i: number) => `{"i":${i},"pad":"${'x'.repeat(100)}"}\n`;
    for (let i = 0; i < 200_000; i++) await up.write(line(i)); // about 22 MB: three 8 MiB parts
    await up.end();
    const text = Buffer.from((await getObjectBytes(s3, bucket, 'big.jsonl')).bytes).toString('utf8');
    const lines = text.split('\n').filter(Boolean);
    expect(lines).toHaveLength(200_000);
    expect(lines[123_456]).toBe(line(123_456).trim());
    s3.destroy();
  });
});
