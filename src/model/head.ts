import * as tf from '@tensorflow/tfjs';

export const HEAD_INPUT_SHAPE: [number, number, number] = [7, 7, 2048];

/** Classifier head on the last ResNet50 block: GlobalAveragePooling2D -> Dropout -> Dense(1, sigmoid). */
export function buildHead(dropout: number): tf.Sequential {
  return tf.sequential({
    name: 'pneumonia_head',
    layers: [
      tf.layers.globalAveragePooling2d({ inputShape: HEAD_INPUT_SHAPE, name: 'head_gap' }),
      tf.layers.dropout({ rate: dropout, name: 'head_dropout' }),
      tf.layers.dense({ units: 1, activation: 'sigmoid', name: 'head_dense' }),
    ],
  });
}

/** Copies a trained linear layer (kernel [2048,1], bias [1]) into the head's dense layer. */
export function setHeadDense(head: tf.LayersModel, kernel: Float32Array, bias: number): void {
  const dense = head.getLayer('head_dense');
  dense.setWeights([tf.tensor2d(kernel, [kernel.length, 1]), tf.tensor1d([bias])]);
}
