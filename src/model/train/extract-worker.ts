// Child process: computes GAP features for a list of jobs with its own tfjs backend.
import * as tf from '@tensorflow/tfjs';
import { readFile } from 'node:fs/promises';
import { decodeImage } from '../../shared/image/decode-input.js';
import { createLogger } from '../../shared/logger.js';
import { selectBackend } from '../backend.js';
import { loadBackbone } from '../backbone.js';
import { caffePreprocess } from '../preprocess.js';
import { FEATURE_DIM, featurePath, hasFeature, writeFeature, type FeatureJob } from './features.js';
import { variantRgb } from './variants.js';

export interface WorkerTask {
  jobs: FeatureJob[];
  backboneDir: string;
  backboneHash: string;
  featureRoot: string;
  batchSize: number;
}

const SIZE = 224;

async function run(task: WorkerTask): Promise<void> {
  const log = createLogger({ role: 'extract-worker' });
  await selectBackend(log);
  const model = await loadBackbone(task.backboneDir, 'avg_pool');
  const px = SIZE * SIZE * 3;
  let done = 0;
  for (let i = 0; i < task.jobs.length; i += task.batchSize) {
    const batch: FeatureJob[] = [];
    for (const j of task.jobs.slice(i, i + task.batchSize)) {
      if (!(await hasFeature(featurePath(task.featureRoot, task.backboneHash, j.sha256, j.copy)))) batch.push(j);
    }
    if (batch.length > 0) {
      const input = new Float32Array(batch.length * px);
      for (const [k, j] of batch.entries()) {
        const { rgb } = await decodeImage(await readFile(j.path), SIZE);
        caffePreprocess(await variantRgb(rgb, SIZE, j.sha256, j.copy), input, k * px);
      }
      const x = tf.tensor4d(input, [batch.length, SIZE, SIZE, 3]);
      const y = model.predict(x) as tf.Tensor;
      const feats = (await y.data()) as Float32Array;
      tf.dispose([x, y]);
      for (const [k, j] of batch.entries()) {
        await writeFeature(
          featurePath(task.featureRoot, task.backboneHash, j.sha256, j.copy),
          feats.slice(k * FEATURE_DIM, (k + 1) * FEATURE_DIM),
        );
      }
    }
    done += Math.min(task.batchSize, task.jobs.length - i);
    process.send?.({ type: 'progress', done });
  }
}

process.once('message', (task: WorkerTask) => {
  run(task).then(
    () => process.send?.({ type: 'done' }, () => process.exit(0)),
    (err: unknown) =>
      process.send?.({ type: 'error', message: String((err as Error)?.stack ?? err) }, () => process.exit(1)),
  );
});
