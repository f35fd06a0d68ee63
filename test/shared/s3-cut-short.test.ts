import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/shared/s3/client.js';
import { objectLines } from '../../src/shared/s3/object-lines.js';
import { getObjectBytes } from '../../src/shared/s3/objects.js';

// An S3 endpoint serving BODY (Range and If-Match honoured) whose next `cut` GETs send headers for the
// whole answer, then half of it, and close the connection.
const LINES = Array.from({ length: 3000 }, (_, i) => JSON.stringify({ key: `xrays/${i}.png`, probability: i / 3000 }));
const BODY = Buffer.from(LINES.join('\n') + '\n');
let cut = 0;
let requests: { range?: string; ifMatch?: string }[] = [];
const server = http.createServer((req, res) => {
  requests.push({ range: req.headers.range, ifMatch: req.headers['if-match'] });
  if (req.headers['if-match'] && req.headers['if-match'] !== '"e1"') {
    res.writeHead(412).end();
    return;
  }
  const start = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
  const answer = BODY.subarray(start);
  res.writeHead(start ? 206 : 200, {
    'Content-Length': answer.length,
    ETag: '"e1"',
    ...(start ? { 'Content-Range': `bytes ${start}-${BODY.length - 1}/${BODY.length}` } : {}),
  });
  if (cut > 0) {
    cut--;
    res.write(answer.subarray(0, answer.length >> 1), () => res.socket?.destroy());
  } else res.end(answer);
});

describe('a GetObject body cut short', () => {
  let s3: ReturnType<typeof createS3Client>;
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    s3 = createS3Client(
      { endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', forcePathStyle: true },
      { accessKeyId: 'k', secretAccessKey: 's' },
    );
  });
  afterAll(() => {
    s3.destroy();
    server.close();
  });

  it('is read again, whole', async () => {
    cut = 2;
    requests = [];
    const got = await getObjectBytes(s3, 'b', 'runs/r/history.json');
    expect(Buffer.from(got.bytes).equals(BODY)).toBe(true);
    expect(got.etag).toBe('e1');
    expect(requests).toHaveLength(3);
  });

  it('fails after the last attempt, naming the cut', async () => {
    cut = 5;
    requests = [];
    await expect(getObjectBytes(s3, 'b', 'runs/r/history.json', 2)).rejects.toThrow(/aborted|ECONNRESET|premature/i);
    expect(requests).toHaveLength(2);
  });

  it('streamed line by line, resumes where it stopped: every line once, the rest asked for by Range on the same ETag', async () => {
    cut = 2;
    requests = [];
    const got: string[] = [];
    for await (const line of objectLines(s3, 'b', 'runs/r/predictions.jsonl')) got.push(line);
    expect(got).toEqual(LINES);
    expect(requests).toHaveLength(3);
    expect(requests[0].range).toBeUndefined();
    expect(requests.slice(1).map((r) => r.ifMatch)).toEqual(['"e1"', '"e1"']);
    const starts = requests.slice(1).map((r) => Number(/^bytes=(\d+)-$/.exec(r.range!)![1]));
    expect(starts[0]).toBeGreaterThan(0);
    expect(starts[1]).toBeGreaterThan(starts[0]);
  });
});
