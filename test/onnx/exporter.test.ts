import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { exportKerasGraph } from '../../src/model/onnx/export-graph.js';
import { kerasGraphOf } from '../../src/model/onnx/keras-graph.js';
import { importOrt } from '../../src/model/onnx/ort-session.js';
import { encodeModel, readMetadataProps } from '../../src/model/onnx/writer.js';

type T = tf.SymbolicTensor;
const ort = await importOrt();

/** Random non-trivial weights everywhere, including BN statistics (variance > 0). */
function randomize(model: tf.LayersModel, seed: number): void {
  for (const l of model.layers) {
    const ws = l.getWeights();
    if (!ws.length) continue;
    l.setWeights(
      ws.map((w, i) =>
        l.getClassName() === 'BatchNormalization' && i === 3
          ? tf.randomUniform(w.shape, 0.5, 2, 'float32', seed + i)
          : tf.randomNormal(w.shape, 0, 0.3, 'float32', seed + i),
      ),
    );
  }
}

async function compare(model: tf.LayersModel, batch: number): Promise<{ maxDiff: number; ops: string[] }> {
  const proto = exportKerasGraph(kerasGraphOf(model), {
    metadata: { modelId: 'test' },
    inputName: 'input',
    outputName: 'out',
  });
  const bytes = encodeModel(proto);
  expect(readMetadataProps(bytes)).toEqual({ modelId: 'test' });
  const shape = [batch, ...(model.inputs[0].shape.slice(1) as number[])];
  const x = tf.randomNormal(shape, 0, 50, 'float32', 7);
  const want = (model.predict(x) as tf.Tensor).dataSync();
  const session = await ort.InferenceSession.create(bytes);
  const got = (await session.run({ input: new ort.Tensor('float32', x.dataSync() as Float32Array, shape) })).out
    .data as Float32Array;
  await session.release();
  expect(got.length).toBe(want.length);
  const maxDiff = Math.max(...Array.from(got, (g, i) => Math.abs(g - want[i])));
  return { maxDiff, ops: proto.graph!.node!.map((n) => n.opType!) };
}

describe('exportKerasGraph', () => {
  it('matches TF.js on a small ResNet-like model (padding, strided same conv, folded BN, add, max pool, GAP, softmax)', async () => {
    const input = tf.input({ shape: [17, 16, 3], name: 'img' });
    let x = tf.layers
      .zeroPadding2d({
        padding: [
          [2, 1],
          [1, 2],
        ],
        name: 'pad0',
      })
      .apply(input) as T;
    x = tf.layers.conv2d({ filters: 8, kernelSize: 5, strides: 2, name: 'c0' }).apply(x) as T;
    x = tf.layers.batchNormalization({ axis: 3, epsilon: 1e-3, name: 'bn0' }).apply(x) as T;
    x = tf.layers.activation({ activation: 'relu', name: 'r0' }).apply(x) as T;
    x = tf.layers
      .zeroPadding2d({
        padding: [
          [1, 1],
          [1, 1],
        ],
        name: 'pad1',
      })
      .apply(x) as T;
    x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, name: 'mp' }).apply(x) as T;
    let y = tf.layers.conv2d({ filters: 12, kernelSize: 3, strides: 2, padding: 'same', name: 'c1' }).apply(x) as T;
    y = tf.layers.batchNormalization({ axis: -1, name: 'bn1' }).apply(y) as T;
    const s = tf.layers.conv2d({ filters: 12, kernelSize: 1, strides: 2, name: 'proj', useBias: false }).apply(x) as T;
    x = tf.layers.add({ name: 'sum' }).apply([y, s]) as T;
    x = tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c2' }).apply(x) as T;
    x = tf.layers.batchNormalization({ name: 'bn_alone' }).apply(x) as T; // after a relu conv: not foldable
    x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as T;
    x = tf.layers.dropout({ rate: 0.5, name: 'drop' }).apply(x) as T;
    x = tf.layers.dense({ units: 3, activation: 'softmax', name: 'fc' }).apply(x) as T;
    const model = tf.model({ inputs: input, outputs: x });
    randomize(model, 1);
    const { maxDiff, ops } = await compare(model, 3);
    expect(maxDiff).toBeLessThan(1e-5);
    expect(ops.filter((o) => o === 'BatchNormalization')).toHaveLength(1); // bn0, bn1 folded
    expect(ops).not.toContain('Pad'); // both paddings folded
    expect(ops[0]).toBe('Transpose');
  });

  it('keeps an explicit Pad before MaxPool on possibly negative input, and flattens in Keras (HWC) order', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.zeroPadding2d({ inputShape: [6, 5, 2], padding: 1, name: 'pad' }),
        tf.layers.maxPooling2d({ poolSize: 2, name: 'mp' }),
        tf.layers.flatten({ name: 'flat' }),
        tf.layers.dense({ units: 2, activation: 'sigmoid', name: 'out_dense' }),
      ],
    });
    randomize(model, 3);
    const { maxDiff, ops } = await compare(model, 2);
    expect(maxDiff).toBeLessThan(1e-5);
    expect(ops).toContain('Pad');
  });

  it('refuses a layer it cannot map, naming it and its class', () => {
    const conv = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 2, kernelSize: 3, name: 'enc' }),
        tf.layers.conv2dTranspose({ filters: 1, kernelSize: 3, name: 'upsample_1' }),
      ],
    });
    expect(() => exportKerasGraph(kerasGraphOf(conv), { metadata: {} })).toThrow(/upsample_1 \(Conv2DTranspose\)/);
    const rnn = tf.sequential({
      layers: [
        tf.layers.lstm({ inputShape: [5, 4], units: 3, name: 'seq_lstm' }),
        tf.layers.dense({ units: 1, name: 'd' }),
      ],
    });
    expect(() => exportKerasGraph(kerasGraphOf(rnn), { metadata: {} })).toThrow(/seq_lstm \(LSTM\)/);
    const elu = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [4], units: 2, name: 'd1' }),
        tf.layers.activation({ activation: 'elu', name: 'odd_act' }),
      ],
    });
    expect(() => exportKerasGraph(kerasGraphOf(elu), { metadata: {} })).toThrow(/odd_act \(Activation\).*elu/);
  });
});
