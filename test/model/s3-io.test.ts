import * as tf from '@tensorflow/tfjs';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fsIO } from '../../src/model/io/fs-io.js';
import { cachedS3Model, s3IO } from '../../src/model/io/s3-io.js';

/** In-memory S3 that answers the three commands the IOHandler uses. */
function fakeS3(): { client: S3Client; store: Map<string, Uint8Array>; gets: string[] } {
  const store = new Map<string, Uint8Array>();
  const gets: string[] = [];
  const notFound = () =>
    Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });
  const client = {
    async send(cmd: unknown) {
      if (cmd instanceof PutObjectCommand) {
        const b = cmd.input.Body;
        store.set(
          `${cmd.input.Bucket}/${cmd.input.Key}`,
          typeof b === 'string' ? new TextEncoder().encode(b) : new Uint8Array(b as Uint8Array),
        );
        return {};
      }
      const { Bucket, Key } = (cmd as GetObjectCommand).input;
      const v = store.get(`${Bucket}/${Key}`);
      if (!v) throw notFound();
      if (cmd instanceof HeadObjectCommand) return { ETag: `"${createHash('md5').update(v).digest('hex')}"` };
      gets.push(Key!);
      return { Body: { transformToByteArray: async () => v.slice() } };
    },
  } as unknown as S3Client;
  return { client, store, gets };
}

describe('S3 IOHandler', () => {
  let dir: string;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    dir = await mkdtemp(join(tmpdir(), 's3io-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("refuses a model URI whose bucket S3 would refuse, naming the URI and the reason (the one S3 URI parser's rule)", () => {
    const { client } = fakeS3();
    expect(() => s3IO(client, 's3://b/models/x')).toThrow(
      's3://b/models/x is not an S3 URI: bucket name "b" is shorter than 3 characters',
    );
    expect(() => s3IO(client, 's3://Models/x')).toThrow('s3://Models/x is not an S3 URI: bucket name "Models" has "M"');
    expect(() => s3IO(client, '/local')).toThrow('/local is not an S3 URI: expected s3://bucket/prefix');
  });

  it('saves, loads, and caches a model once per model.json ETag', async () => {
    const { client, store, gets } = fakeS3();
    const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 1 })] });
    const x = tf.tensor2d([[1, 2]]);
    const want = (m.predict(x) as tf.Tensor).dataSync()[0];
    await m.save(s3IO(client, 's3://bkt/models/m1/'));
    expect([...store.keys()].sort()).toEqual(['bkt/models/m1/model.json', 'bkt/models/m1/weights.bin']);
    const direct = await tf.loadLayersModel(s3IO(client, 's3://bkt/models/m1/'));
    expect((direct.predict(x) as tf.Tensor).dataSync()[0]).toBeCloseTo(want, 6);

    const cache = join(dir, 'cache');
    const d1 = await cachedS3Model(client, 's3://bkt/models/m1/', cache);
    const n = gets.length;
    const d2 = await cachedS3Model(client, 's3://bkt/models/m1', cache);
    expect(d2).toBe(d1);
    expect(gets.length).toBe(n); // second call served from the cache
    expect((await readdir(d1)).sort()).toEqual(['model.json', 'weights.bin']);
    const local = await tf.loadLayersModel(fsIO(d1));
    expect((local.predict(x) as tf.Tensor).dataSync()[0]).toBeCloseTo(want, 6);
  });
});
