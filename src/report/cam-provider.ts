import type { S3Client } from '@aws-sdk/client-s3';
import { loadCamModel, type CamModel } from './gradcam.js';
import { productionModelDir } from './model-dir.js';

let cached: { dir: string; model: Promise<CamModel & { modelId: string }> } | undefined;

/**
 * Grad-CAM model of the production model, loaded once per process; undefined when the run was
 * scored by another model (its heatmaps would explain the wrong weights).
 */
export function productionCamProvider(s3: S3Client): (modelId: string) => Promise<CamModel | undefined> {
  return async (modelId) => {
    const dir = await productionModelDir(s3);
    if (cached?.dir !== dir) cached = { dir, model: loadCamModel(dir) };
    const model = await cached.model.catch((err: unknown) => {
      cached = undefined;
      throw err;
    });
    return model.modelId === modelId ? model : undefined;
  };
}
