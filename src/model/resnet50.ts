import * as tf from '@tensorflow/tfjs';

/** Where the network stops: fc1000 softmax, the 2048-d avg_pool, or the last block (activation_48, 7x7x2048). */
export type ResNetTop = 'fc1000' | 'avg_pool' | 'activation_48';

export interface ResNet50Options {
  top?: ResNetTop;
  inputSize?: number;
}

type T = tf.SymbolicTensor;

/** Builds ResNet50 v1 exactly as keras.applications (Keras 2.2.4 names), untrained. */
export function buildResNet50(opts: ResNet50Options = {}): tf.LayersModel {
  const size = opts.inputSize ?? 224;
  const top = opts.top ?? 'fc1000';
  let act = 0;
  let add = 0;
  const nextAct = (): string => (act++ === 0 ? 'activation' : `activation_${act - 1}`);
  const nextAdd = (): string => (add++ === 0 ? 'add' : `add_${add - 1}`);
  const relu = (x: T): T => tf.layers.activation({ activation: 'relu', name: nextAct() }).apply(x) as T;
  const conv = (x: T, filters: number, k: number, name: string, strides = 1, padding: 'valid' | 'same' = 'valid'): T =>
    tf.layers.conv2d({ filters, kernelSize: k, strides, padding, name, useBias: true }).apply(x) as T;
  const bn = (x: T, name: string): T => tf.layers.batchNormalization({ axis: 3, momentum: 0.99, epsilon: 1e-3, name }).apply(x) as T;

  const block = (x: T, f: [number, number, number], stage: number, id: string, strides: number, projection: boolean): T => {
    const base = `${stage}${id}_branch`;
    let y = relu(bn(conv(x, f[0], 1, `res${base}2a`, strides), `bn${base}2a`));
    y = relu(bn(conv(y, f[1], 3, `res${base}2b`, 1, 'same'), `bn${base}2b`));
    y = bn(conv(y, f[2], 1, `res${base}2c`), `bn${base}2c`);
    const shortcut = projection ? bn(conv(x, f[2], 1, `res${base}1`, strides), `bn${base}1`) : x;
    return relu(tf.layers.add({ name: nextAdd() }).apply([y, shortcut]) as T);
  };

  const input = tf.input({ shape: [size, size, 3], name: 'input_1' });
  let x = tf.layers.zeroPadding2d({ padding: [[3, 3], [3, 3]], name: 'conv1_pad' }).apply(input) as T;
  x = relu(bn(conv(x, 64, 7, 'conv1', 2), 'bn_conv1'));
  x = tf.layers.zeroPadding2d({ padding: [[1, 1], [1, 1]], name: 'pool1_pad' }).apply(x) as T;
  x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, name: 'max_pooling2d' }).apply(x) as T;

  const stages: Array<[number, [number, number, number], number, number]> = [
    [2, [64, 64, 256], 3, 1],
    [3, [128, 128, 512], 4, 2],
    [4, [256, 256, 1024], 6, 2],
    [5, [512, 512, 2048], 3, 2],
  ];
  for (const [stage, filters, blocks, stride] of stages) {
    for (let b = 0; b < blocks; b++) {
      x = block(x, filters, stage, String.fromCharCode(97 + b), b === 0 ? stride : 1, b === 0);
    }
  }
  if (top !== 'activation_48') {
    x = tf.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as T;
    if (top === 'fc1000') x = tf.layers.dense({ units: 1000, activation: 'softmax', name: 'fc1000' }).apply(x) as T;
  }
  return tf.model({ inputs: input, outputs: x, name: 'resnet50' });
}
