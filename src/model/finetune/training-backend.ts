import * as tf from '@tensorflow/tfjs';
import type { Logger } from '../../shared/logger.js';
import { ensureBackend, type BackendInfo } from '../backend.js';
import { registerWasmTrainingKernels } from '../wasm-kernels/index.js';

/** The fastest backend for training convolutions: tfjs-node(-gpu) when installed, else WASM with the project's gradient kernels. */
export async function ensureTrainingBackend(logger?: Logger): Promise<BackendInfo> {
  const info = await ensureBackend(logger);
  if (tf.getBackend() === 'wasm') registerWasmTrainingKernels();
  else if (tf.getBackend() === 'cpu')
    logger?.warn(
      'training convolutions on the pure-JS cpu backend: expect minutes per step (install tfjs-node, or let the wasm backend load)',
    );
  return info;
}
