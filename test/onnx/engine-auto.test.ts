// The default engine ('auto'): INT8 on a CPU host where the model's INT8 parity holds, FP32 otherwise,
// and the INT8 file built once per host however many processes ask for it at the same time.
import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultModelDir } from '../../src/model/classifier.js';
import { autoOnnxPrecision, loadEngine } from '../../src/model/engine.js';
import { CALIBRATION_FILE, int8Readiness, PARITY_FILE } from '../../src/model/onnx/int8/int8-model.js';
import { cachedOnnxFile, ensureOnnxModel } from '../../src/model/onnx/onnx-file.js';
import type { Logger } from '../../src/shared/logger.js';
import { repoRoot } from '../../src/shared/paths.js';

const shipped = defaultModelDir();
const shippedId = (JSON.parse(await readFile(join(shipped, 'metadata.json'), 'utf8')) as { id: string }).id;

/** A logger that keeps (message, fields) of info and warn lines. */
function recordingLogger(): { logger: Logger; lines: Array<{ msg: string; fields: Record<string, unknown> }> } {
  const lines: Array<{ msg: string; fields: Record<string, unknown> }> = [];
  const keep = (fields: Record<string, unknown>, msg: string) => lines.push({ msg, fields });
  return { logger: { info: keep, warn: keep, debug: () => {} } as unknown as Logger, lines };
}

describe("engine 'auto' and INT8", () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'engine-auto-'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  /** A model folder with the shipped metadata and the given INT8 files (what int8Readiness reads). */
  async function modelWith(name: string, files: { parity?: unknown; calibration?: unknown }): Promise<string> {
    const dir = join(tmp, name);
    await mkdir(dir, { recursive: true });
    await copyFile(join(shipped, 'metadata.json'), join(dir, 'metadata.json'));
    if (files.parity) await writeFile(join(dir, PARITY_FILE), JSON.stringify(files.parity));
    if (files.calibration) await writeFile(join(dir, CALIBRATION_FILE), JSON.stringify(files.calibration));
    return dir;
  }

  it('INT8 is ready only with a passing parity record and a calibration, both for this model id', async () => {
    const pass = { modelId: shippedId, pass: true };
    const cal = { modelId: shippedId };
    expect(await int8Readiness(await modelWith('none', {}))).toEqual({
      ready: false,
      reason: `no ${PARITY_FILE} beside the model`,
    });
    expect(
      (await int8Readiness(await modelWith('other-id', { parity: { ...pass, modelId: 'aaaa' }, calibration: cal })))
        .reason,
    ).toBe(`${PARITY_FILE} was measured for model aaaa, not ${shippedId}`);
    expect(
      await int8Readiness(await modelWith('failed', { parity: { ...pass, pass: false }, calibration: cal })),
    ).toMatchObject({ ready: false, reason: `${PARITY_FILE} records that INT8 parity does not hold` });
    expect(await int8Readiness(await modelWith('no-cal', { parity: pass }))).toMatchObject({ ready: false });
    expect(
      await int8Readiness(await modelWith('cal-other', { parity: pass, calibration: { modelId: 'bbbb' } })),
    ).toMatchObject({ ready: false, reason: `${CALIBRATION_FILE} was calibrated for model bbbb, not ${shippedId}` });
    expect(await int8Readiness(await modelWith('ready', { parity: pass, calibration: cal }))).toMatchObject({
      ready: true,
    });
    // The shipped model passes (models/pneumonia-resnet50/int8-parity.json).
    expect(await int8Readiness(shipped)).toMatchObject({ ready: true });
  });

  it('a host with the CUDA provider keeps FP32; a CPU host takes INT8 for the shipped model', async () => {
    expect(await autoOnnxPrecision({ cuda: true })).toMatchObject({
      engine: 'onnx',
      reason: expect.stringMatching(/CUDA/),
    });
    expect(await autoOnnxPrecision({ cuda: false })).toMatchObject({ engine: 'onnx-int8' });
    expect(await autoOnnxPrecision({ cuda: false, modelUri: await modelWith('cpu-no-parity', {}) })).toMatchObject({
      engine: 'onnx',
      reason: `INT8 not used: no ${PARITY_FILE} beside the model`,
    });
  });

  it("'auto' loads INT8 on this CPU host and says why; 'onnx' stays FP32", async () => {
    const { logger, lines } = recordingLogger();
    const auto = await loadEngine({ engine: 'auto', logger, threads: 1, cuda: false });
    try {
      expect(auto.backend).toBe('onnxruntime-cpu-int8');
    } finally {
      auto.dispose();
    }
    const selected = lines.find((l) => l.msg === 'inference engine selected');
    expect(selected?.fields).toMatchObject({ requested: 'auto', engine: 'onnx-int8' });
    expect(String(selected?.fields.reason)).toMatch(/^CPU host and INT8 parity holds/);
    const fp32 = await loadEngine({ engine: 'onnx', threads: 1 });
    try {
      expect(fp32.backend).toBe('onnxruntime-cpu');
    } finally {
      fp32.dispose();
    }
  });

  it('concurrent processes build the INT8 file once, and say what it cost', async () => {
    // The FP32 export in place (exporting is a minute; not this test's subject), the INT8 file not yet built.
    const fp32 = await ensureOnnxModel({});
    const cache = join(tmp, 'cache');
    await mkdir(cache, { recursive: true });
    await copyFile(fp32.path, cachedOnnxFile(cache, shippedId));
    const script = `
      const { ensureInt8Model } = await import(${JSON.stringify(join(repoRoot(), 'dist/model/onnx/int8/int8-model.js'))});
      const { createLogger } = await import(${JSON.stringify(join(repoRoot(), 'dist/shared/logger.js'))});
      const f = await ensureInt8Model({ cacheDir: ${JSON.stringify(cache)}, logger: createLogger({}) });
      process.stdout.write(f.path + '\\n');`;
    const run = () =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve, reject) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
          env: { ...process.env, LOG_LEVEL: 'info' },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => (out += d));
        child.stderr.on('data', (d: Buffer) => (err += d));
        child.on('error', reject);
        child.on('exit', (code) => resolve({ code, out, err }));
      });
    const results = await Promise.all([run(), run(), run()]);
    for (const r of results) expect(r.code, r.err).toBe(0);
    const logs = results.flatMap((r) => r.err.split('\n').filter(Boolean));
    const built = logs.filter((l) => l.includes('INT8 model built (first use on this host)'));
    expect(built).toHaveLength(1);
    const cost = JSON.parse(built[0]) as { ms: number; cpuMs: number; bytes: number };
    expect(cost.bytes).toBeGreaterThan(1_000_000);
    expect(cost.ms).toBeGreaterThan(0);
    expect(new Set(results.map((r) => r.out.trim()))).toEqual(new Set([join(cache, `${shippedId}.int8.onnx`)]));
    expect((await readdir(cache)).filter((f) => f.endsWith('.lock'))).toEqual([]);
  }, 180_000);
});
