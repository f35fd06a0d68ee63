import * as tf from '@tensorflow/tfjs';

/** Where the network stops: fc1000 softmax, the 2048-d avg_pool, the last block (activation_48, 7x7x2048), or a stage's output. */
export type ResNetTop = 'fc1000' | 'avg_pool' | 'activation_48' | 'activation_39' | 'activation_21';

/** The first trainable stage of a fine-tune: conv5 (stage 5), conv4 (stages 4-5) or all. */
export type TrainFrom = 'conv5' | 'conv4' | 'all';
export const TRAIN_FROM: readonly TrainFrom[] = ['conv5', 'conv4', 'all'];

/** The frozen prefix of a fine-tune ends at this layer (its output is the suffix's input); null: no prefix. */
export const PREFIX_TOP: Record<TrainFrom, 'activation_39' | 'activation_21' | null> = {
  conv5: 'activation_39',
  conv4: 'activation_21',
  all: null,
};

/** Shape of a stage's output for a 224 input. */
export const STAGE_OUTPUT: Record<'activation_39' | 'activation_21', [number, number, number]> = {
  activation_21: [28, 28, 512],
  activation_39: [14, 14, 1024],
};

export interface ResNet50Options {
  top?: ResNetTop;
  inputSize?: number;
  /** Build only the layers after this stage output (the fine-tune suffix); the input takes that output's shape. */
  from?: 'activation_39' | 'activation_21';
}

type T = tf.SymbolicTensor;

const STAGES: Array<[number, [number, number, number], number, number]> = [
  [2, [64, 64, 256], 3, 1],
  [3, [128, 128, 512], 4, 2],
  [4, [256, 256, 1024], 6, 2],
  [5, [512, 512, 2048], 3, 2],
];
/** Stage whose output each stage top is, and the activation / add counters after it. */
const STAGE_END: Record<'activation_39' | 'activation_21', { stage: number; act: number; add: number }> = {
  activation_21: { stage: 3, act: 22, add: 7 },
  activation_39: { stage: 4, act: 40, add: 13 },
};

/** Builds ResNet50 v1 exactly as keras.applications (Keras 2.2.4 names), untrained; or a prefix/suffix of it with the same layer names. */
export function buildResNet50(opts: ResNet50Options = {}): tf.LayersModel {
  const size = opts.inputSize ?? 224;
  const top = opts.top ?? 'fc1000';
  const from = opts.from ? STAGE_END[opts.from] : null;
  let act = from?.act ?? 0;
  let add = from?.add ?? 0;
  const nextAct = (): string => (act++ === 0 ? 'activation' : `activation_${act - 1}`);
  const nextAdd = (): string => (add++ === 0 ? 'add' : `add_${add - 1}`);
  const relu = (x: T): T => tf.layers.activation({ activation: 'relu', name: nextAct() }).apply(x) as T;
  const conv = (x: T, filters: number, k: number, name: string, strides = 1, padding: 'valid' | 'same' = 'valid'): T =>
    tf.layers.conv2d({ filters, kernelSize: k, strides, padding, name, useBias: true }).apply(x) as T;
  const bn = (x: T, name: string): T =>
    tf.layers.batchNormalization({ axis: 3, momentum: 0.99, epsilon: 1e-3, name }).apply(x) as T;

  const block = (
    x: T,
    f: [number, number, number],
    stage: number,
    id: string,
    strides: number,
    projection: boolean,
  ): T => {
    const base = `${stage}${id}_branch`;
    let y = relu(bn(conv(x, f[0], 1, `res${base}2a`, strides), `bn${base}2a`));
    y = relu(bn(conv(y, f[1], 3, `res${base}2b`, 1, 'same'), `bn${base}2b`));
    y = bn(conv(y, f[2], 1, `res${base}2c`), `bn${base}2c`);
    const shortcut = projection ? bn(conv(x, f[2], 1, `res${base}1`, strides), `bn${base}1`) : x;
    return relu(tf.layers.add({ name: nextAdd() }).apply([y, shortcut]) as T);
  };

  let input: T;
  let x: T;
  if (opts.from) {
    input = tf.input({ shape: STAGE_OUTPUT[opts.from], name: `${opts.from}_in` });
    x = input;
  } else {
    input = tf.input({ shape: [size, size, 3], name: 'input_1' });
    x = tf.layers
      .zeroPadding2d({
        padding: [
          [3, 3],
          [3, 3],
        ],
        name: 'conv1_pad',
      })
      .apply(input) as T;
    x = relu(bn(conv(x, 64, 7, 'conv1', 2), 'bn_conv1'));
    x = tf.layers
      .zeroPadding2d({
        padding: [
          [1, 1],
          [1, 1],
        ],
        name: 'pool1_pad',
      })
      .apply(x) as T;
    x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, name: 'max_pooling2d' }).apply(x) as T;
  }
  const lastStage = top === 'activation_21' ? 3 : top === 'activation_39' ? 4 : 5;
  for (const [stage, filters, blocks, stride] of STAGES) {
    if ((from && stage <= from.stage) || stage > lastStage) continue;
    for (let b = 0; b < blocks; b++) {
      x = block(x, filters, stage, String.fromCharCode(97 + b), b === 0 ? stride : 1, b === 0);
    }
  }
  if (top === 'avg_pool' || top === 'fc1000') {
    x = tf.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as T;
    if (top === 'fc1000') x = tf.layers.dense({ units: 1000, activation: 'softmax', name: 'fc1000' }).apply(x) as T;
  }
  return tf.model({ inputs: input, outputs: x, name: opts.from ? `resnet50_from_${opts.from}` : 'resnet50' });
}
