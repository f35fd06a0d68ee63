import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fsIO } from '../../src/model/io/fs-io.js';

describe('fsIO', () => {
  let dir: string;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    dir = await mkdtemp(join(tmpdir(), 'fsio-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('saves model.json + weights.bin and loads the same model back', async () => {
    const m = tf.sequential({
      layers: [tf.layers.dense({ inputShape: [3], units: 2, activation: 'relu' }), tf.layers.dense({ units: 1 })],
    });
    const x = tf.tensor2d([
      [1, 2, 3],
      [-1, 0, 4],
    ]);
    const before = Array.from((m.predict(x) as tf.Tensor).dataSync());
    await m.save(fsIO(dir));
    expect((await readdir(dir)).sort()).toEqual(['model.json', 'weights.bin']);
    const loaded = await tf.loadLayersModel(fsIO(dir));
    expect(Array.from((loaded.predict(x) as tf.Tensor).dataSync())).toEqual(before);
  });
});
