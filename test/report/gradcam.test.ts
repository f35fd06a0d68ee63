import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultModelDir, loadClassifier, type PneumoniaClassifier } from '../../src/model/classifier.js';
import { caffePreprocess } from '../../src/model/preprocess.js';
import { loadCamModel, type CamModel } from '../../src/report/gradcam.js';
import { decodeToRgb } from '../../src/shared/image/decode.js';
import { datasetFiles } from '../helpers/dataset.js';

describe('Grad-CAM on the shipped model', () => {
  let cam: CamModel & { modelId: string };
  let classifier: PneumoniaClassifier;
  beforeAll(async () => {
    // One after the other: both select the TF.js backend on first use.
    classifier = await loadClassifier({ modelUri: defaultModelDir() });
    cam = await loadCamModel(defaultModelDir());
  });
  afterAll(() => {
    cam?.dispose();
    classifier?.dispose();
  });

  it("reads the head's dense layer right: kernel . GAP(A) + bias reproduces the classifier's probability", async () => {
    expect(cam.modelId).toBe(classifier.info.id);
    const file = datasetFiles('PNEUMONIA', 1)[0];
    const bytes = await readFile(file);
    const { png, probability } = await cam.overlay(bytes, 256);
    const expected = (await classifier.predict(caffePreprocess((await decodeToRgb(bytes, 224)).rgb), 1))[0];
    expect(probability).toBeCloseTo(expected, 3);
    const meta = await sharp(png).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 256, 256]);
    if (process.env.CXR_SCREENSHOT_DIR) await writeFile(path.join(process.env.CXR_SCREENSHOT_DIR, 'gradcam.png'), png);
  });
});
