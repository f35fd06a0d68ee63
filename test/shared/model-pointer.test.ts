import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { promoteModel, resolveModelUri } from '../../src/shared/model-pointer.js';

/** In-memory S3: Get/Put only, NoSuchKey for a missing key. */
function memoryS3(objects: Map<string, Uint8Array>): S3Client {
  return {
    async send(cmd: unknown) {
      if (cmd instanceof PutObjectCommand) {
        const { Bucket, Key, Body } = cmd.input;
        objects.set(`${Bucket}/${Key}`, typeof Body === 'string' ? Buffer.from(Body) : (Body as Uint8Array));
        return {};
      }
      if (cmd instanceof GetObjectCommand) {
        const b = objects.get(`${cmd.input.Bucket}/${cmd.input.Key}`);
        if (!b) throw Object.assign(new Error('no such key'), { name: 'NoSuchKey' });
        return { Body: { transformToByteArray: async () => b }, ETag: '"x"' };
      }
      throw new Error('unexpected command');
    },
  } as unknown as S3Client;
}

const json = (v: unknown) => Buffer.from(JSON.stringify(v));

describe('model pointer (promote / resolve)', () => {
  it("pins a run's best/ to the epoch folder with the same id, and scoring resolves the name to it", async () => {
    const objects = new Map<string, Uint8Array>();
    for (const dir of ['runs/r1/best', 'runs/r1/epoch-3']) {
      objects.set(
        `bkt/${dir}/metadata.json`,
        json({ id: 'abc123', name: 'pneumonia-resnet50', version: '1.0.0', training: { epoch: 3 } }),
      );
      objects.set(`bkt/${dir}/model.json`, json({}));
    }
    const s3 = memoryS3(objects);
    const p = await promoteModel(
      s3,
      's3://bkt/runs/r1/best',
      's3://bkt/models/production',
      new Date('2026-01-02T03:04:05Z'),
    );
    expect(p).toEqual({
      modelUri: 's3://bkt/runs/r1/epoch-3',
      modelId: 'abc123',
      name: 'pneumonia-resnet50',
      version: '1.0.0',
      promotedAt: '2026-01-02T03:04:05.000Z',
      from: 's3://bkt/runs/r1/best',
    });
    expect(JSON.parse(Buffer.from(objects.get('bkt/models/production/pointer.json')!).toString())).toEqual(p);
    expect(await resolveModelUri(s3, 's3://bkt/models/production')).toBe('s3://bkt/runs/r1/epoch-3');
    expect(await resolveModelUri(s3, 's3://bkt/models/production/')).toBe('s3://bkt/runs/r1/epoch-3');
    // promoting a pointer copies its target, never chains pointers
    const q = await promoteModel(s3, 's3://bkt/models/production', 's3://bkt/models/staging');
    expect(q.modelUri).toBe('s3://bkt/runs/r1/epoch-3');
  });

  it('leaves plain folders, local paths and unset URIs as they are; refuses non-models', async () => {
    const s3 = memoryS3(new Map());
    expect(await resolveModelUri(s3, 's3://bkt/models/plain')).toBe('s3://bkt/models/plain');
    expect(await resolveModelUri(s3, 'models/pneumonia-resnet50')).toBe('models/pneumonia-resnet50');
    expect(await resolveModelUri(s3, undefined)).toBeUndefined();
    await expect(promoteModel(s3, 's3://bkt/nothing', 's3://bkt/models/production')).rejects.toThrow(
      /no metadata.json/,
    );
  });
});
