import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { decodeToRgb } from '../shared/image/decode.js';
import { caffePreprocess } from '../model/preprocess.js';
import { ensureBackbone } from '../model/backbone-fetch.js';
import { loadBackbone } from '../model/backbone.js';
import { ensureBackend } from '../model/backend.js';
import { fsIO } from '../model/io/fs-io.js';
import { readMetadata } from '../model/metadata.js';
import type { ResNetTop } from '../model/resnet50.js';

/**
 * Class activation map for a GAP -> Dense head: ReLU(sum_k w_k * A_k) over the h*w grid, scaled to [0, 1].
 * Equals Grad-CAM for this head, since d(score)/dA_k is w_k / (h*w) everywhere. Pure.
 */
export function camFromActivation(activation: Float32Array, kernel: Float32Array, h: number, w: number): Float32Array {
  const c = kernel.length;
  if (activation.length !== h * w * c)
    throw new Error(`cam: activation has ${activation.length} values, expected ${h}x${w}x${c}`);
  const cam = new Float32Array(h * w);
  for (let i = 0; i < h * w; i++) {
    let s = 0;
    for (let k = 0; k < c; k++) s += activation[i * c + k] * kernel[k];
    cam[i] = Math.max(0, s);
  }
  const max = cam.reduce((m, v) => Math.max(m, v), 0);
  if (max > 0) for (let i = 0; i < cam.length; i++) cam[i] /= max;
  return cam;
}

/** Jet-like colour map: 0 blue -> 0.5 green/yellow -> 1 red. Pure. */
export function jet(v: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, v));
  const f = (c: number) => Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * x - c))));
  return [f(3), f(2), f(1)];
}

/** Colours a [0, 1] map as RGBA; opacity grows with the value so cold regions leave the X-ray visible. Pure. */
export function heatmapRgba(cam: Float32Array, maxAlpha = 0.55): Uint8Array {
  const out = new Uint8Array(cam.length * 4);
  cam.forEach((v, i) => {
    const [r, g, b] = jet(v);
    out.set([r, g, b, Math.round(255 * maxAlpha * Math.min(1, 0.15 + v))], i * 4);
  });
  return out;
}

export interface CamModel {
  inputSize: number;
  /** PNG of the X-ray (size x size) with the heatmap over it, and the model's probability. */
  overlay(bytes: Uint8Array, size?: number): Promise<{ png: Buffer; probability: number }>;
  dispose(): void;
}

/** Loads the backbone and the head's dense kernel from a model folder (a fine-tuned one: up to its last block, activation_48). */
export async function loadCamModel(modelDir: string): Promise<CamModel & { modelId: string }> {
  await ensureBackend();
  const meta = await readMetadata(modelDir);
  const top = (meta.backbone.featureLayer || 'activation_48') as ResNetTop;
  const [backbone, head] = await Promise.all([
    ensureBackbone().then((d) => loadBackbone(d, top)),
    tf.loadLayersModel(fsIO(modelDir)),
  ]);
  // A fine-tuned model folder holds the blocks after `top`: run them up to the last block.
  const lastBlock =
    top === 'activation_48'
      ? null
      : tf.model({ inputs: head.inputs, outputs: head.getLayer('activation_48').output as tf.SymbolicTensor });
  const dense = head.layers.filter((l) => l.getClassName() === 'Dense').at(-1);
  if (!dense) throw new Error(`${modelDir}: the head has no Dense layer`);
  const [k, b] = dense.getWeights();
  const kernel = new Float32Array(await k.data());
  const bias = (await b.data())[0];
  if (!lastBlock) head.dispose();
  const size = meta.inputSize;
  return {
    modelId: meta.id,
    inputSize: size,
    async overlay(bytes: Uint8Array, outSize = 320) {
      const { rgb } = await decodeToRgb(bytes, size);
      const act = tf.tidy(() => {
        const a = backbone.predict(tf.tensor4d(caffePreprocess(rgb), [1, size, size, 3])) as tf.Tensor;
        return lastBlock ? (lastBlock.predict(a) as tf.Tensor) : a;
      });
      const [, h, w] = act.shape as number[];
      const a = new Float32Array(await act.data());
      act.dispose();
      // The head's logit is the dense layer on the channel means of A.
      let logit = bias;
      for (let ch = 0; ch < kernel.length; ch++) {
        let m = 0;
        for (let i = 0; i < h * w; i++) m += a[i * kernel.length + ch];
        logit += (kernel[ch] * m) / (h * w);
      }
      const cam = camFromActivation(a, kernel, h, w);
      const heat = await sharp(Buffer.from(heatmapRgba(cam)), { raw: { width: w, height: h, channels: 4 } })
        .resize(outSize, outSize, { kernel: 'cubic', fit: 'fill' })
        .png()
        .toBuffer();
      const png = await sharp(Buffer.from(rgb), { raw: { width: size, height: size, channels: 3 } })
        .resize(outSize, outSize, { fit: 'fill' })
        .composite([{ input: heat }])
        .png()
        .toBuffer();
      return { png, probability: 1 / (1 + Math.exp(-logit)) };
    },
    dispose() {
      backbone.dispose();
      if (lastBlock) head.dispose();
    },
  };
}
