import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { candidatesFor, selectBackend } from '../../src/model/backend.js';

describe('selectBackend', () => {
  it('honours TFJS_BACKEND=cpu', async () => {
    const info = await selectBackend(undefined, { TFJS_BACKEND: 'cpu' });
    expect(info.name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
  });

  it('errors clearly when TFJS_BACKEND=tensorflow is not installed', async () => {
    await expect(selectBackend(undefined, { TFJS_BACKEND: 'tensorflow' })).rejects.toThrow(
      /@tensorflow\/tfjs-node-gpu is not installed.*@tensorflow\/tfjs-node is not installed/,
    );
  });

  it('falls through missing packages silently to wasm when nothing is forced', async () => {
    const info = await selectBackend(undefined, {});
    expect(info.name).toBe('wasm');
    expect(info.wasmSimd).toBe(true);
  });

  it('rejects unknown values', () => {
    expect(() => candidatesFor('gpu')).toThrow(/not one of/);
    expect(candidatesFor('tensorflow')).toEqual(['node-gpu', 'node']);
  });
});
