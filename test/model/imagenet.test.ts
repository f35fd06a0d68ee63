import * as tf from '@tensorflow/tfjs';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { ensureBackbone } from '../../src/model/backbone-fetch.js';
import { loadBackbone } from '../../src/model/backbone.js';
import { selectBackend } from '../../src/model/backend.js';
import { caffePreprocess } from '../../src/model/preprocess.js';
import { decodeToRgb } from '../../src/shared/image/decode.js';

describe('ResNet50 ImageNet backbone', () => {
  it('classifies Chelsea the cat (CC0, scikit-image) as Egyptian cat, ImageNet class 285', async () => {
    await selectBackend(undefined, { TFJS_BACKEND: process.env.TFJS_BACKEND ?? 'wasm' });
    const model = await loadBackbone(await ensureBackbone(), 'fc1000');
    const { rgb } = await decodeToRgb(await readFile(new URL('../fixtures/chelsea.png', import.meta.url)), 224);
    const x = tf.tensor4d(caffePreprocess(rgb), [1, 224, 224, 3]);
    const y = model.predict(x) as tf.Tensor;
    const probs = Array.from(await y.data());
    tf.dispose([x, y]);
    model.dispose();
    const top1 = probs.indexOf(Math.max(...probs));
    expect(probs).toHaveLength(1000);
    expect(top1).toBe(285);
    expect(probs[285]).toBeGreaterThan(0.5);
  });
});
