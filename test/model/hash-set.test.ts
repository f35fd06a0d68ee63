import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeHashSet,
  encodeHashSet,
  falsePositiveRate,
  HASH_SET_FILE,
  imageKey,
  KEY_BYTES,
} from '../../src/model/hash-set.js';
import { imageFilesUnder, loadModelHashSet, writeHashSetFile } from '../../src/model/hash-set-file.js';
import { FlagTally, IN_TRAINING_FLAG, flagsFact, inSampleWarning } from '../../src/run/flags.js';
import type { PredictionLine } from '../../src/run/types.js';
import { predictionExtras, skippableFlags } from '../../src/worker/prediction-extras.js';
import { seededRandom } from '../../src/shared/sampling.js';
import { datasetFiles } from '../helpers/dataset.js';

/** n random 64-bit keys from a seeded generator (two 32-bit halves). */
function randomKeys(n: number, seed: number): bigint[] {
  const rnd = seededRandom(seed);
  const half = () => BigInt(Math.floor(rnd() * 2 ** 32));
  return Array.from({ length: n }, () => (half() << 32n) | half());
}

describe('hash set of training images', () => {
  it('a key is the first 8 bytes of the sha256 of the bytes, big-endian', () => {
    // sha256("abc") = ba7816bf8f01cfea 414140de5dae2223 ...
    expect(imageKey(new TextEncoder().encode('abc'))).toBe(0xba7816bf8f01cfean);
  });

  it('binary search answers like a Set for members and non-members, over 20,000 random keys', () => {
    const members = randomKeys(20_000, 1);
    const others = randomKeys(20_000, 2);
    const set = decodeHashSet(encodeHashSet(members, { sets: ['train'] }));
    const truth = new Set(members);
    expect(set.count).toBe(truth.size);
    for (const k of members) expect(set.has(k)).toBe(true);
    let wrong = 0;
    for (const k of others) if (set.has(k) !== truth.has(k)) wrong++;
    expect(wrong).toBe(0);
    // The ends of the key space and the first and last members.
    const sorted = [...truth].sort((a, b) => (a < b ? -1 : 1));
    expect(set.has(sorted[0]) && set.has(sorted.at(-1)!)).toBe(true);
    expect(set.has(0n) || set.has(2n ** 64n - 1n)).toBe(truth.has(0n) || truth.has(2n ** 64n - 1n));
  });

  it('the file is one JSON header line, then the keys sorted and deduplicated, 8 bytes each', () => {
    const keys = [5n, 3n, 2n ** 64n - 1n, 3n, 0n];
    const bytes = encodeHashSet(
      keys,
      { sets: ['train', 'validation'], data: 'test' },
      new Date('2026-12-07T00:00:00Z'),
    );
    const nl = bytes.indexOf(0x0a);
    const header = JSON.parse(Buffer.from(bytes.subarray(0, nl)).toString('utf8'));
    expect(header).toEqual({
      format: 'cxr-hash-set/1',
      key: 'sha256(file bytes)[0:8], unsigned big-endian',
      count: 4,
      falsePositiveRate: 4 / 2 ** 64,
      sets: ['train', 'validation'],
      data: 'test',
      createdAt: '2026-12-07T00:00:00.000Z',
    });
    const body = Buffer.from(bytes.subarray(nl + 1));
    expect(body.length).toBe(4 * KEY_BYTES);
    expect([0, 1, 2, 3].map((i) => body.readBigUInt64BE(i * 8))).toEqual([0n, 3n, 5n, 2n ** 64n - 1n]);
    expect(falsePositiveRate(5216)).toBeCloseTo(2.83e-16, 18);
  });

  it('a damaged file is refused, naming what is wrong', () => {
    const good = encodeHashSet([1n, 2n, 3n], { sets: ['train'] });
    expect(() => decodeHashSet(good.subarray(0, good.length - 3), 'm/data-hashes.bin')).toThrow(
      /^m\/data-hashes\.bin: 21 bytes of keys, the header says 3 keys of 8 bytes$/,
    );
    expect(() => decodeHashSet(new TextEncoder().encode('{"format":"other/1","count":0}\n'))).toThrow(
      /format "other\/1", expected cxr-hash-set\/1/,
    );
    expect(() => decodeHashSet(new TextEncoder().encode('not json\n'))).toThrow(/header line is not JSON/);
    const unordered = Buffer.from(good);
    const at = unordered.indexOf(0x0a) + 1;
    unordered.writeBigUInt64BE(9n, at); // first key now above the second
    expect(() => decodeHashSet(unordered)).toThrow(/keys not in ascending order at 1/);
  });

  describe('files: real dataset images', () => {
    let dir: string;
    const inSet = [...datasetFiles('NORMAL', 4), ...datasetFiles('PNEUMONIA', 4)];
    const notInSet = [...datasetFiles('NORMAL', 4, 100), ...datasetFiles('PNEUMONIA', 4, 100)];
    beforeAll(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'cxr-hash-set-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('writeHashSetFile writes the model folder file that loadModelHashSet reads; members are found, others are not', async () => {
      expect(await loadModelHashSet(dir)).toBeUndefined(); // a model without one
      const header = await writeHashSetFile(inSet, path.join(dir, HASH_SET_FILE), {
        sets: ['train', 'validation'],
        data: 'eight dataset images',
      });
      expect(header.count).toBe(8);
      const set = (await loadModelHashSet(dir))!;
      for (const f of inSet) expect(set.hasImage(readFileSync(f)), f).toBe(true);
      for (const f of notInSet) expect(set.hasImage(readFileSync(f)), f).toBe(false);
      // One byte changed is another image.
      const changed = Buffer.from(readFileSync(inSet[0]));
      changed[changed.length - 1] ^= 1;
      expect(set.hasImage(changed)).toBe(false);
      expect((await readFile(path.join(dir, HASH_SET_FILE))).length).toBe(
        header.count * 8 + Buffer.byteLength(JSON.stringify(header)) + 1,
      );
    });

    it('imageFilesUnder finds images recursively and nothing else', async () => {
      const sub = path.join(dir, 'tree', 'NORMAL');
      await import('node:fs/promises').then((fs) => fs.mkdir(sub, { recursive: true }));
      await writeFile(path.join(sub, 'a.jpeg'), 'x');
      await writeFile(path.join(sub, 'b.PNG'), 'x');
      await writeFile(path.join(sub, 'notes.txt'), 'x');
      expect(await imageFilesUnder(path.join(dir, 'tree'))).toEqual([
        path.join(sub, 'a.jpeg'),
        path.join(sub, 'b.PNG'),
      ]);
      await expect(imageFilesUnder(path.join(dir, 'none'))).rejects.toThrow(/--data .*none: no such folder/);
    });
  });
});

describe('the in-training-set flag', () => {
  it('is added to a prediction whose image is in the set; --skip-flagged does not skip for it', () => {
    expect(predictionExtras(undefined, undefined, undefined, true)).toEqual({ flags: [IN_TRAINING_FLAG] });
    expect(predictionExtras(undefined, 95, 90, true).flags).toEqual(['out of distribution', IN_TRAINING_FLAG]);
    expect(predictionExtras(undefined, undefined, undefined, false)).toEqual({});
    expect(skippableFlags([IN_TRAINING_FLAG])).toBeUndefined();
    expect(skippableFlags(['lateral view', IN_TRAINING_FLAG])).toEqual(['lateral view']);
  });

  it('is counted in the metrics, and warns when the labelled metrics include in-sample images', () => {
    const tally = new FlagTally();
    const line = (flags?: string[]): PredictionLine =>
      ({
        type: 'prediction',
        key: 'k',
        etag: 'e',
        label: 'NORMAL',
        probability: 0.1,
        threshold: 0.5,
        modelId: 'm',
        modelName: 'n',
        modelVersion: 'v',
        timings: { downloadMs: 0, decodeMs: 0, inferenceMs: 0 },
        ...(flags ? { flags } : {}),
      }) as PredictionLine;
    tally.prediction(line([IN_TRAINING_FLAG]));
    tally.prediction(line([IN_TRAINING_FLAG, 'lateral view']));
    tally.prediction(line());
    const counts = tally.result();
    expect(counts.inTrainingSet).toBe(2);
    expect(flagsFact(counts)).toMatch(/2 in-training-set/);
    expect(inSampleWarning(counts, 3)).toBe(
      "2 of the 3 scored images are in the model's training or validation set (flag in-training-set): the metrics include in-sample images and overstate the model's quality on new patients",
    );
    expect(inSampleWarning(counts, 2)).toMatch(/^all scored images/);
    expect(inSampleWarning(new FlagTally().result(), 3)).toBeUndefined();
    expect(inSampleWarning(undefined, 3)).toBeUndefined();
  });
});
