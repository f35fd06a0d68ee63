import * as tf from '@tensorflow/tfjs';
import { buildResNet50, PREFIX_TOP, type TrainFrom } from '../resnet50.js';
import { setWeightsByName } from '../weights.js';

/**
 * The fine-tuned part of the classifier: the backbone after its frozen prefix, GAP, and the pneumonia
 * head Dense(1, sigmoid), as one functional model whose layers keep the full ResNet50's names.
 * `gap` shares its layers and stops at the 2048-d avg_pool.
 */
export interface SuffixModel {
  trainFrom: TrainFrom;
  full: tf.LayersModel;
  gap: tf.LayersModel;
  dense: tf.layers.Layer;
}

export function buildSuffixModel(trainFrom: TrainFrom): SuffixModel {
  const from = PREFIX_TOP[trainFrom];
  const gap = buildResNet50({ top: 'avg_pool', ...(from ? { from } : {}) });
  const dense = tf.layers.dense({ units: 1, activation: 'sigmoid', name: 'head_dense' });
  const y = dense.apply(gap.outputs[0]) as tf.SymbolicTensor;
  const full = tf.model({ inputs: gap.inputs, outputs: y, name: `pneumonia_${trainFrom}` });
  return { trainFrom, full, gap, dense };
}

/** Loads the ImageNet weights of the suffix's backbone layers (the head stays as initialised). */
export function loadImagenetSuffix(m: SuffixModel, imagenet: tf.NamedTensorMap): void {
  setWeightsByName(m.gap, imagenet);
}

/** Every weight of the model (trainable and BN statistics), in `full.weights` order, as one float32 vector. */
export function flattenWeights(m: SuffixModel): Float32Array {
  const parts = m.full.weights.map((w) => w.read().dataSync() as Float32Array);
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const sizeOf = (shape: readonly (number | null)[]): number => shape.reduce<number>((a, b) => a * (b ?? 1), 1);

export const weightCount = (m: SuffixModel): number => m.full.weights.reduce((s, w) => s + sizeOf(w.shape), 0);

/** Inverse of flattenWeights. */
export function assignWeights(m: SuffixModel, flat: Float32Array): void {
  const n = weightCount(m);
  if (flat.length !== n) throw new Error(`weight vector has ${flat.length} values, the ${m.trainFrom} model has ${n}`);
  let o = 0;
  for (const w of m.full.weights) {
    const size = sizeOf(w.shape);
    const t = tf.tensor(flat.subarray(o, o + size), w.shape as number[]);
    w.write(t);
    t.dispose();
    o += size;
  }
}

/** Names of the BatchNormalization layers, in graph order. */
export const bnLayers = (m: SuffixModel): tf.layers.Layer[] =>
  m.gap.layers.filter((l) => l.getClassName() === 'BatchNormalization');

export function disposeSuffix(m: SuffixModel): void {
  m.full.dispose();
}
