import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultModelDir, loadClassifier, type PneumoniaClassifier } from '../../src/model/classifier.js';
import { caffePreprocess } from '../../src/model/preprocess.js';
import { decodeToRgb } from '../../src/shared/image/decode.js';

const DATA = '/work/shared/datasets/chest-xray-pneumonia/train';
const { existsSync } = await import('node:fs');

describe('loadClassifier (shipped model)', () => {
  let c: PneumoniaClassifier;
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cls-'));
    c = await loadClassifier({ modelUri: defaultModelDir() });
  });
  afterAll(async () => {
    c?.dispose();
    await rm(tmp, { recursive: true, force: true });
  });

  it('exposes the contract info', () => {
    expect(c.info.classNames).toEqual(['NORMAL', 'PNEUMONIA']);
    expect(c.info.inputSize).toBe(224);
    expect(c.info.id).toMatch(/^[0-9a-f]{16}$/);
    expect(c.info.threshold).toBeGreaterThan(0);
    expect(c.info.threshold).toBeLessThan(1);
    expect(['wasm', 'cpu', 'tensorflow']).toContain(c.backend);
  });

  it('scores a batch in one call and rejects a wrongly sized input', async () => {
    const px = 224 * 224 * 3;
    const x = new Float32Array(2 * px);
    if (existsSync(DATA)) {
      const files = [join(DATA, 'NORMAL', 'IM-0115-0001.jpeg'), join(DATA, 'PNEUMONIA', 'person1_bacteria_1.jpeg')];
      for (const [i, f] of files.entries()) caffePreprocess((await decodeToRgb(await readFile(f), 224)).rgb, x, i * px);
    }
    const p = await c.predict(x, 2);
    expect(p).toHaveLength(2);
    for (const v of p) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    }
    if (existsSync(DATA)) expect(p[1]).toBeGreaterThan(p[0]);
    await expect(c.predict(new Float32Array(px), 2)).rejects.toThrow(/expected 2x224x224x3/);
  });

  it('refuses a model whose files no longer match its id', async () => {
    const dir = join(tmp, 'model');
    await cp(defaultModelDir(), dir, { recursive: true });
    const meta = JSON.parse(await readFile(join(dir, 'metadata.json'), 'utf8')) as { threshold: number };
    meta.threshold = 0.01;
    await writeFile(join(dir, 'metadata.json'), JSON.stringify(meta));
    await expect(loadClassifier({ modelUri: dir })).rejects.toThrow(/does not match metadata id/);
  });
});
