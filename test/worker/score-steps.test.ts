import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PneumoniaClassifier } from '../../src/model/classifier.js';
import type { FailureLine, RunItem } from '../../src/run/index.js';
import { assembleLines, decodeAll, unreadInputs, type Downloaded } from '../../src/worker/score-batch.js';

/** The steps of scoreBatch that need no S3: decode, the null engine's unread inputs, and the part's lines. */

const info = {
  id: 'm1',
  name: 'test',
  version: '1.0.0',
  threshold: 0.5,
  classNames: ['NORMAL', 'PNEUMONIA'],
  inputSize: 32,
};
const counting = (): PneumoniaClassifier & { calls: { inputLength: number; n: number }[] } => {
  const calls: { inputLength: number; n: number }[] = [];
  return {
    info: info as PneumoniaClassifier['info'],
    backend: 'test',
    calls,
    async predict(input, n) {
      calls.push({ inputLength: input.length, n });
      return Float32Array.from({ length: n }, (_, i) => (i % 2 ? 0.9 : 0.1));
    },
    dispose() {},
  };
};
const item = (key: string, label?: 'NORMAL' | 'PNEUMONIA'): RunItem => ({ key, etag: `e-${key}`, size: 1, label });
const downloaded = (key: string, bytes: Uint8Array): Downloaded => ({
  item: item(key),
  etag: `e-${key}`,
  bytes,
  downloadMs: 3,
});

describe('scoreBatch steps', () => {
  it('decodeAll: an image decodes to the input size; bytes that are no image fail alone at stage decode', async () => {
    const png = readFileSync(path.join(import.meta.dirname, '..', 'fixtures', 'chelsea.png'));
    const failures: FailureLine[] = [];
    const decoded = await decodeAll(
      { classifier: counting() },
      [downloaded('a.png', png), downloaded('b.jpeg', Buffer.from('not an image at all')), downloaded('c.png', png)],
      failures,
    );
    expect(decoded.map((d) => d.item.key)).toEqual(['a.png', 'c.png']);
    expect(decoded[0].rgb.length).toBe(32 * 32 * 3);
    expect(decoded[0].downloadMs).toBe(3);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ type: 'failure', key: 'b.jpeg', etag: 'e-b.jpeg', stage: 'decode' });
  });

  it('unreadInputs: every key scored by count, without pixels (the null engine skipping reads)', async () => {
    const c = counting();
    const inputs = unreadInputs([item('x'), item('y'), item('z')]);
    expect(inputs.failures).toEqual([]);
    const scores = await inputs.score(c);
    expect(c.calls).toEqual([{ inputLength: 0, n: 3 }]);
    expect(Array.from(scores.probabilities)).toHaveLength(3);
  });

  it('assembleLines: predictions at the threshold, read failures first kept, a flagged image fails under --skip-flagged', () => {
    const c = counting();
    const inputs = unreadInputs([item('n', 'NORMAL'), item('p', 'PNEUMONIA')]);
    inputs.decoded[1].dicom = { flags: ['lateral view'], uids: {}, transferSyntax: '1.2.840.10008.1.2', frames: 1 };
    const readFailure = { type: 'failure' as const, key: 'r', etag: 'e-r', stage: 'download' as const, reason: 'gone' };
    const scores = { probabilities: Float32Array.from([0.2, 0.8]) };
    const plain = assembleLines(c, {}, { decoded: inputs.decoded, failures: [readFailure] }, scores, 10);
    expect(plain.predictions.map((p) => [p.key, p.label, p.trueLabel])).toEqual([
      ['n', 'NORMAL', 'NORMAL'],
      ['p', 'PNEUMONIA', 'PNEUMONIA'],
    ]);
    expect(plain.predictions[1].flags).toEqual(['lateral view']);
    expect(plain.predictions[0].timings.inferenceMs).toBe(5);
    expect(plain.failures).toEqual([readFailure]);
    const skipping = assembleLines(
      c,
      { skipFlagged: true },
      { decoded: inputs.decoded, failures: [readFailure] },
      scores,
      10,
    );
    expect(skipping.predictions.map((p) => p.key)).toEqual(['n']);
    expect(skipping.failures.map((f) => [f.key, f.stage])).toEqual([
      ['r', 'download'],
      ['p', 'flagged'],
    ]);
  });
});
