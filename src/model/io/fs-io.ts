import * as tf from '@tensorflow/tfjs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

interface ModelJson {
  modelTopology?: object;
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  weightsManifest: tf.io.WeightsManifestConfig;
  trainingConfig?: tf.io.TrainingConfig;
  userDefinedMetadata?: { [key: string]: object };
}

function toArrayBuffer(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

/** Reads model.json + every shard in manifest order; weight data comes back as one buffer. */
export async function readModelDir(dir: string): Promise<tf.io.ModelArtifacts> {
  const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as ModelJson;
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const buffers: ArrayBuffer[] = [];
  for (const group of json.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const p of group.paths) buffers.push(toArrayBuffer(await readFile(join(dir, p))));
  }
  return {
    modelTopology: json.modelTopology,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    trainingConfig: json.trainingConfig,
    userDefinedMetadata: json.userDefinedMetadata,
    weightSpecs,
    weightData: tf.io.concatenateArrayBuffers(buffers),
  };
}

/** Writes model.json + weights.bin atomically (temp names, then rename). */
export async function writeModelDir(dir: string, a: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
  await mkdir(dir, { recursive: true });
  const data =
    a.weightData === undefined
      ? new ArrayBuffer(0)
      : Array.isArray(a.weightData)
        ? tf.io.concatenateArrayBuffers(a.weightData)
        : a.weightData;
  const json: ModelJson = {
    modelTopology: a.modelTopology as object,
    format: a.format,
    generatedBy: a.generatedBy,
    convertedBy: a.convertedBy ?? null,
    weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs ?? [] }],
    ...(a.trainingConfig ? { trainingConfig: a.trainingConfig } : {}),
    ...(a.userDefinedMetadata ? { userDefinedMetadata: a.userDefinedMetadata } : {}),
  };
  const tag = `.tmp-${process.pid}`;
  await writeFile(join(dir, `weights.bin${tag}`), Buffer.from(data));
  await writeFile(join(dir, `model.json${tag}`), JSON.stringify(json));
  await rename(join(dir, `weights.bin${tag}`), join(dir, 'weights.bin'));
  await rename(join(dir, `model.json${tag}`), join(dir, 'model.json'));
  return {
    modelArtifactsInfo: {
      dateSaved: new Date(),
      modelTopologyType: 'JSON',
      modelTopologyBytes: JSON.stringify(a.modelTopology ?? {}).length,
      weightSpecsBytes: JSON.stringify(a.weightSpecs ?? []).length,
      weightDataBytes: data.byteLength,
    },
  };
}

/** TF.js IOHandler over a local folder, for tf.loadLayersModel / model.save. */
export function fsIO(dir: string): tf.io.IOHandler {
  return { load: () => readModelDir(dir), save: (a) => writeModelDir(dir, a) };
}
