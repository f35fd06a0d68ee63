import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/shared/s3/client.js';
import { getObjectBytes } from '../../src/shared/s3/objects.js';

// An S3 endpoint whose first `cut` GETs send headers for the whole body, then half of it and close.
const BODY = Buffer.from(JSON.stringify({ round: 3, history: Array.from({ length: 2000 }, (_, i) => i) }));
let cut = 0;
let gets = 0;
const server = http.createServer((req, res) => {
  gets++;
  res.writeHead(200, { 'Content-Length': BODY.length, ETag: '"e1"', 'Content-Type': 'application/json' });
  if (cut > 0) {
    cut--;
    res.write(BODY.subarray(0, BODY.length >> 1), () => res.socket?.destroy());
  } else res.end(BODY);
});

describe('a GetObject body cut short', () => {
  let s3: ReturnType<typeof createS3Client>;
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    s3 = createS3Client({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', forcePathStyle: true }, { accessKeyId: 'k', secretAccessKey: 's' });
  });
  afterAll(() => {
    s3.destroy();
    server.close();
  });

  it('is read again, whole', async () => {
    cut = 2;
    gets = 0;
    const got = await getObjectBytes(s3, 'b', 'runs/r/history.json');
    expect(Buffer.from(got.bytes).equals(BODY)).toBe(true);
    expect(got.etag).toBe('e1');
    expect(gets).toBe(3);
  });

  it('fails after the last attempt, naming the cut', async () => {
    cut = 5;
    gets = 0;
    await expect(getObjectBytes(s3, 'b', 'runs/r/history.json', 2)).rejects.toThrow(/aborted|ECONNRESET|premature/i);
    expect(gets).toBe(2);
  });
});
