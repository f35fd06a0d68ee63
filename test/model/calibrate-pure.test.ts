import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  calibratedCard,
  calibratedMetadata,
  calibratedVersion,
  checkSampleSize,
  sameWeightIds,
  SampleTooSmallError,
} from '../../src/model/calibrate/calibration.js';
import { copyModelFolder, modelFolder } from '../../src/model/io/model-files.js';
import type { HeadMetadata } from '../../src/model/metadata.js';
import { exportKerasGraph } from '../../src/model/onnx/export-graph.js';
import { kerasGraphOf } from '../../src/model/onnx/keras-graph.js';
import { encodeModel, readMetadataProps, withMetadataProps } from '../../src/model/onnx/writer.js';
import { reportAtThreshold } from '../../src/model/train/validation-report.js';

const prev: HeadMetadata = {
  id: 'aaaaaaaaaaaaaaaa',
  name: 'pneumonia-resnet50',
  version: '1.0.0',
  threshold: 0.35,
  thresholdRule: 'youden',
  classNames: ['NORMAL', 'PNEUMONIA'],
  inputSize: 224,
  backbone: { package: 'p', sumsFile: 's', sha256: 'b', featureLayer: 'activation_48' },
  recipe: { seed: 42 },
};
const truth = Array.from({ length: 60 }, (_, i) => i % 3 !== 0);
const scores = truth.map((t, i) => (t ? 0.3 + (i % 7) / 10 : (i % 5) / 10));
const report = reportAtThreshold(truth, scores, undefined, 0.3, 'sens-target:0.9', { replicates: 100 });
const sample = {
  uri: 's3://b/site/',
  labelsFrom: 'key-folders',
  runId: 'calib-x',
  runsOut: 's3://b/calibration-runs',
  n: 60,
  positives: 40,
  negatives: 20,
  failed: 1,
  patients: 60,
};

describe('calibration metadata and card', () => {
  it('refuses too few positives with the count needed, and a sample without negatives', () => {
    expect(() => checkSampleSize(140, 10, 0.95, 0.05, 's3://b/s/')).toThrow(SampleTooSmallError);
    expect(() => checkSampleSize(140, 10, 0.95, 0.05, 's3://b/s/')).toThrow(
      /s3:\/\/b\/s\/ has 140 .* needs at least 141 .*>= 0\.9\): add 1 more/,
    );
    expect(checkSampleSize(141, 10, 0.95, 0.05, 'x')).toBe(141);
    expect(() => checkSampleSize(141, 0, 0.95, 0.05, 'x')).toThrow(/no labelled NORMAL/);
  });

  it('keeps everything but threshold, version and id; records the sample and the lineage of identical weights', () => {
    const m = calibratedMetadata(
      prev,
      { targetSensitivity: 0.9, margin: 0.3, requiredPositives: 12, sample, report, calibratedAt: 't' },
      calibratedVersion('1.0.0+cal.20260101', new Date('2026-11-26T10:00:00Z')),
    );
    expect(m).toMatchObject({
      id: '',
      version: '1.0.0+cal.20261126',
      threshold: 0.3,
      thresholdRule: 'sens-target:0.9 (calibrated)',
      recipe: { seed: 42 },
      backbone: prev.backbone,
    });
    expect((m.calibration as { previous: unknown }).previous).toEqual({
      id: prev.id,
      version: '1.0.0',
      threshold: 0.35,
      thresholdRule: 'youden',
    });
    m.id = 'bbbbbbbbbbbbbbbb';
    const m2 = calibratedMetadata(
      m,
      { targetSensitivity: 0.9, margin: 0.3, requiredPositives: 12, sample, report, calibratedAt: 't2' },
      '1.0.1',
    );
    m2.id = 'cccccccccccccccc';
    expect([...sameWeightIds(m2)].sort()).toEqual([prev.id, m.id, m2.id].sort());
  });

  it('renames the card, notes the change once, and replaces an earlier Calibration section', () => {
    const m = {
      ...calibratedMetadata(
        prev,
        { targetSensitivity: 0.9, margin: 0.3, requiredPositives: 12, sample, report, calibratedAt: 't' },
        '1.0.0+cal.1',
      ),
      id: 'bbbbbbbbbbbbbbbb',
    };
    const original = '# pneumonia-resnet50 1.0.0\n\nModel id `aaaaaaaaaaaaaaaa`.\n\n## Training recipe\n- stuff\n';
    const once = calibratedCard(original, m);
    expect(once.split('\n')[0]).toBe('# pneumonia-resnet50 1.0.0+cal.1');
    expect(once).toContain('## Training recipe\n- stuff');
    expect(once).toMatch(/Calibrated version 1\.0\.0\+cal\.1\*\*, model id `bbbbbbbbbbbbbbbb`/);
    expect(once).toContain('s3://b/site/');
    expect(once).toContain('1 labelled image(s) could not be scored');
    const twice = calibratedCard(once, { ...m, version: '1.0.0+cal.2', id: 'cccccccccccccccc' });
    expect(twice.match(/## Calibration/g)).toHaveLength(1);
    expect(twice.match(/Calibrated version/g)).toHaveLength(1);
    expect(twice).toContain('model id `cccccccccccccccc`');
    expect(twice).toContain('## Training recipe\n- stuff');
  });
});

describe('model folder copy', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cxr-calib-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('copies every file (nested ones too) except a pointer, and writes the replaced files', async () => {
    const src = path.join(tmp, 'src');
    await mkdir(path.join(src, 'suffix'), { recursive: true });
    for (const [f, v] of [
      ['model.json', '{}'],
      ['weights.bin', 'W'],
      ['suffix/conv5.bin', 'S'],
      ['metadata.json', 'old'],
      ['pointer.json', '{}'],
    ])
      await writeFile(path.join(src, f), v);
    const dst = path.join(tmp, 'dst');
    const files = await copyModelFolder(
      modelFolder(src),
      modelFolder(dst),
      new Map([['metadata.json', new TextEncoder().encode('new')]]),
    );
    expect(files.sort()).toEqual(['metadata.json', 'model.json', 'suffix/conv5.bin', 'weights.bin']);
    expect(await modelFolder(dst).list()).toEqual(['metadata.json', 'model.json', 'suffix/conv5.bin', 'weights.bin']);
    expect(await readFile(path.join(dst, 'metadata.json'), 'utf8')).toBe('new');
    expect(await readFile(path.join(dst, 'suffix/conv5.bin'), 'utf8')).toBe('S');
  });

  it('rewrites ONNX metadata_props without touching the graph', () => {
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 1, name: 'd' })] });
    const bytes = encodeModel(
      exportKerasGraph(kerasGraphOf(model), { metadata: { modelId: 'old', threshold: '0.5', name: 'n' } }),
    );
    const out = withMetadataProps(bytes, { modelId: 'new', threshold: '0.25' });
    expect(readMetadataProps(out)).toEqual({ modelId: 'new', threshold: '0.25', name: 'n' });
    expect(withMetadataProps(out, { modelId: 'old', threshold: '0.5' })).toEqual(bytes);
  });
});
