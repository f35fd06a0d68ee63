import * as tf from '@tensorflow/tfjs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultModelDir } from '../../src/model/classifier.js';
import { backboneHash } from '../../src/model/backbone.js';
import { fsIO } from '../../src/model/io/fs-io.js';
import { computeModelId } from '../../src/model/model-id.js';
import { loadEngine } from '../../src/model/engine.js';
import { uploadModelDir } from '../../src/model/io/s3-io.js';
import { loadOnnxClassifier } from '../../src/model/onnx/classifier.js';
import { exportKerasGraph } from '../../src/model/onnx/export-graph.js';
import { ensureOnnxModel } from '../../src/model/onnx/onnx-file.js';
import { createSession, importOrt } from '../../src/model/onnx/ort-session.js';
import type { Logger } from '../../src/shared/logger.js';
import { encodeModel, readMetadataProps } from '../../src/model/onnx/writer.js';
import { getTextIfExists } from '../../src/shared/s3/objects.js';
import { runCli } from '../helpers/cli.js';
import { childEnv, freshBucket, testConfig, testS3 } from '../helpers/services.js';

/** A tiny valid ONNX file claiming to be model `id`. */
function fakeOnnx(id: string): Uint8Array {
  const graph = {
    layers: [
      { name: 'x', className: 'InputLayer', config: {}, inputs: [], outputShape: [null, 2], weights: new Map() },
    ],
    output: 'x',
  };
  return encodeModel(exportKerasGraph(graph, { metadata: { modelId: id } }));
}

describe('ONNX model files', () => {
  let tmp: string;
  let s3: S3Client;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'onnx-model-'));
    const config = testConfig();
    env = childEnv(config);
    s3 = testS3(config);
  });
  afterAll(async () => {
    s3?.destroy();
    await rm(tmp, { recursive: true, force: true });
  });

  it('refuses a model.onnx beside the model that was exported from another model id', async () => {
    const dir = join(tmp, 'stale');
    await cp(defaultModelDir(), dir, { recursive: true });
    await writeFile(join(dir, 'model.onnx'), fakeOnnx('0123456789abcdef'));
    await expect(loadOnnxClassifier({ modelUri: dir })).rejects.toThrow(
      /exported from model 0123456789abcdef, but the TF\.js model is [0-9a-f]{16}/,
    );
  });

  it('export-onnx writes model.onnx beside an S3 model; a worker cache picks it up by model id', async () => {
    const bucket = await freshBucket(s3);
    const uri = `s3://${bucket}/models/pn/`;
    await uploadModelDir(s3, defaultModelDir(), uri, ['model.json', 'weights.bin', 'metadata.json']);
    const { stdout, stderr } = await runCli(['models', 'export-onnx', '--model', uri], env);
    expect(stdout.trim()).toBe(`${uri}model.onnx`);
    // Reading the TF.js weights uses the selected backend (wasm), not 'cpu' with its tfjs-node banner.
    expect(stderr).not.toContain('install our node backend');
    const meta = JSON.parse((await getTextIfExists(s3, bucket, 'models/pn/metadata.json'))!) as { id: string };
    const cacheDir = join(tmp, 'cache');
    const f = await ensureOnnxModel({ modelUri: uri, s3, cacheDir });
    expect(f.source).toBe('s3');
    expect(f.path).toBe(join(cacheDir, `${meta.id}.f.onnx`));
    expect(readMetadataProps(new Uint8Array(await readFile(f.path)))).toMatchObject({
      modelId: meta.id,
      classNames: '["NORMAL","PNEUMONIA"]',
    });
    expect((await ensureOnnxModel({ modelUri: uri, s3, cacheDir })).source).toBe('cache');
  });

  it('falls back to the CPU with a warning when the CUDA provider cannot start', async () => {
    const warnings: string[] = [];
    const logger = { warn: (_o: unknown, msg: string) => warnings.push(msg), info: () => {} } as unknown as Logger;
    const s = await createSession(await importOrt(), fakeOnnx('x'), 1, logger, true); // no CUDA libraries on this machine
    expect(s.backend).toBe('onnxruntime-cpu');
    expect(warnings).toEqual(['onnxruntime: CUDA execution provider failed to start; using the CPU']);
    await s.session.release();
  });

  it("refuses a head with an unmappable layer on 'onnx', and 'auto' then scores it with TF.js", async () => {
    const dir = join(tmp, 'odd-head');
    const head = tf.sequential({
      layers: [
        tf.layers.globalAveragePooling2d({ inputShape: [7, 7, 2048], name: 'head_gap' }),
        tf.layers.layerNormalization({ name: 'head_norm' }),
        tf.layers.dense({ units: 1, activation: 'sigmoid', name: 'head_dense' }),
      ],
    });
    await head.save(fsIO(dir));
    const meta = JSON.parse(await readFile(join(defaultModelDir(), 'metadata.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    meta.id = computeModelId(await backboneHash(), await readFile(join(dir, 'weights.bin')), meta);
    await writeFile(join(dir, 'metadata.json'), JSON.stringify(meta));
    await expect(loadEngine({ engine: 'onnx', modelUri: dir, cacheDir: join(tmp, 'odd-cache') })).rejects.toThrow(
      /head_norm \(LayerNormalization\) cannot be exported/,
    );
    const c = await loadEngine({ engine: 'auto', modelUri: dir, cacheDir: join(tmp, 'odd-cache') });
    try {
      expect(c.backend).not.toMatch(/onnxruntime/);
      expect(c.info.id).toBe(meta.id);
    } finally {
      c.dispose();
    }
  });

  it("engine 'auto' falls back to TF.js when onnxruntime-node does not load", async () => {
    const c = await loadEngine({ engine: 'auto', importOrt: () => Promise.reject(new Error('no binding')) });
    try {
      expect(c.backend).not.toMatch(/onnxruntime/);
    } finally {
      c.dispose();
    }
    await expect(
      loadEngine({ engine: 'onnx', importOrt: () => Promise.reject(new Error('no binding')) }),
    ).rejects.toThrow(/onnxruntime-node does not load: no binding/);
  });
});
