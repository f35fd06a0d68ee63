import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { setWeightsByName } from '../../src/model/weights.js';
import { buildResNet50 } from '../../src/model/resnet50.js';

function small(): tf.LayersModel {
  const input = tf.input({ shape: [4] });
  const h = tf.layers.dense({ units: 3, name: 'fc_a' }).apply(input) as tf.SymbolicTensor;
  const out = tf.layers.batchNormalization({ name: 'bn_a' }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: 'small' });
}

const full = (): tf.NamedTensorMap => ({
  'fc_a/kernel': tf.ones([4, 3]),
  'fc_a/bias': tf.tensor1d([1, 2, 3]),
  'bn_a/gamma': tf.ones([3]),
  'bn_a/beta': tf.zeros([3]),
  'bn_a/moving_mean': tf.zeros([3]),
  'bn_a/moving_variance': tf.ones([3]),
});

describe('setWeightsByName', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('assigns every weight by Keras name and reports unused ones', () => {
    const m = small();
    const r = setWeightsByName(m, { ...full(), 'fc1000/kernel': tf.zeros([1]) });
    expect(r.assigned).toBe(6);
    expect(r.unused).toEqual(['fc1000/kernel']);
    expect(Array.from(m.getLayer('fc_a').getWeights()[1].dataSync())).toEqual([1, 2, 3]);
  });

  it('fails naming the missing weight', () => {
    const w = full();
    delete w['bn_a/moving_variance'];
    expect(() => setWeightsByName(small(), w)).toThrow(/missing weight bn_a\/moving_variance/);
  });

  it('fails naming a weight with the wrong shape', () => {
    expect(() => setWeightsByName(small(), { ...full(), 'fc_a/kernel': tf.ones([3, 4]) })).toThrow(
      /fc_a\/kernel has shape \[3,4\], layer expects \[4,3\]/,
    );
  });

  it('builds ResNet50 with the Keras layer names of the weights file', () => {
    const m = buildResNet50({ top: 'fc1000' });
    const names = m.layers.map((l) => l.name);
    expect(names).toHaveLength(177);
    for (const n of [
      'input_1',
      'conv1_pad',
      'bn_conv1',
      'pool1_pad',
      'max_pooling2d',
      'res2a_branch1',
      'bn5c_branch2c',
      'add_15',
      'activation_48',
      'avg_pool',
      'fc1000',
    ]) {
      expect(names).toContain(n);
    }
    expect(m.countParams()).toBe(25636712);
    m.dispose();
  });
});
