import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { readModelDir } from './io/fs-io.js';
import { buildResNet50, type ResNetTop } from './resnet50.js';
import { decodeArtifactWeights, setWeightsByName } from './weights.js';
import { defaultSumsFile } from './backbone-fetch.js';

/** Builds ResNet50 up to `top` and loads the ImageNet weights from a verified backbone folder. */
export async function loadBackbone(dir: string, top: ResNetTop = 'activation_48'): Promise<tf.LayersModel> {
  const model = buildResNet50({ top });
  const weights = decodeArtifactWeights(await readModelDir(dir));
  try {
    setWeightsByName(model, weights);
  } finally {
    tf.dispose(Object.values(weights));
  }
  model.trainable = false;
  return model;
}

/** Identity of the backbone weights: sha256 of the committed checksum file. */
export async function backboneHash(sumsFile = defaultSumsFile()): Promise<string> {
  return createHash('sha256')
    .update(await readFile(sumsFile))
    .digest('hex');
}
