// npm run bench:slot-memory: what one scoring slot (a sandbox process) holds, on the worker's own paths (the
// worker's sharp settings, decodeInput, the ONNX classifier with its session options): model loaded, full-size
// images decoded and scored, then idle. Each variant changes one lever from the shipped defaults and runs in its
// own process, started as a sandbox is (environment, node flags), so each starts clean. Prints a table and one
// JSON line per variant. --engine int8 for the INT8 model; --variants a,b to run some; --list names them all.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pLimit from 'p-limit';
import sharp from 'sharp';
import { decodeInput } from '../shared/image/decode-input.js';
import { applySharpSettings, sharpSettings } from '../shared/image/sharp-settings.js';
import { repoRoot } from '../shared/paths.js';
import { caffePreprocess } from '../model/preprocess.js';
import { loadOnnxClassifier } from '../model/onnx/classifier.js';
import { sandboxEnv } from '../worker/sandbox-env.js';
import { SLOT_MEMORY_VARIANTS, variantEnv, type SlotMemoryResult } from './slot-memory-variants.js';

const { values: v } = parseArgs({
  options: {
    images: { type: 'string', default: '64' },
    batch: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '3' },
    engine: { type: 'string', default: 'fp32' },
    variants: { type: 'string' },
    list: { type: 'boolean', default: false },
    // Internal: the child's variant name and the folder of prepared inputs.
    child: { type: 'string' },
    inputs: { type: 'string' },
  },
});

const MiB = 1024 * 1024;
const mib = (bytes: number) => Math.round(bytes / MiB);
const peakMiB = () => Math.round(process.resourceUsage().maxRSS / 1024);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One variant, in this (child) process: the sandbox's own setup, then load, score and idle. */
async function child(variant: string, inputs: string): Promise<void> {
  applySharpSettings(sharpSettings());
  const images = readdirSync(inputs)
    .sort()
    .map((f) => readFileSync(path.join(inputs, f)));
  const classifier = await loadOnnxClassifier({ int8: v.engine === 'int8' });
  const loadedMiB = mib(process.memoryUsage().rss);
  const size = classifier.info.inputSize;
  const batch = Number(v.batch);
  // As scoreBatch decodes: at most max(2, cores) images at once.
  const decodeLimit = pLimit(Math.max(2, os.availableParallelism()));
  const started = performance.now();
  for (let round = 0; round < Number(v.rounds); round++) {
    for (let i = 0; i < images.length; i += batch) {
      const part = images.slice(i, i + batch);
      const rgb = await Promise.all(part.map((b) => decodeLimit(async () => (await decodeInput(b, size)).rgb)));
      const input = new Float32Array(part.length * size * size * 3);
      rgb.forEach((p, k) => caffePreprocess(p, input, k * size * size * 3));
      await classifier.predict(input, part.length);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const scoredMiB = mib(process.memoryUsage().rss);
  // A slot waits for its next batch: what it still holds after 5 s is what a pod keeps per idle slot.
  await sleep(5000);
  const m = process.memoryUsage();
  const result: SlotMemoryResult = {
    variant,
    engine: v.engine === 'int8' ? 'int8' : 'fp32',
    backend: classifier.backend,
    images: images.length * Number(v.rounds),
    batch,
    loadedMiB,
    scoredMiB,
    peakMiB: peakMiB(),
    idleMiB: mib(m.rss),
    heapMiB: mib(m.heapUsed),
    externalMiB: mib(m.external),
    imagesPerSecond: Math.round(((images.length * Number(v.rounds)) / seconds) * 10) / 10,
  };
  classifier.dispose();
  console.log(JSON.stringify(result));
}

/** Full-size inputs as bench:scale makes them: 1600×1300 grey JPEGs (the shared set is 224×224), made once. */
async function makeInputs(dir: string): Promise<void> {
  const data =
    process.env.CXR_DATASET ?? path.resolve(repoRoot(), '..', 'shared', 'datasets', 'chest-xray-pneumonia', 'train');
  const files = readdirSync(path.join(data, 'PNEUMONIA')).sort().slice(0, Number(v.images));
  for (const f of files) {
    const jpeg = await sharp(readFileSync(path.join(data, 'PNEUMONIA', f)))
      .resize(1600, 1300, { fit: 'fill' })
      .greyscale()
      .jpeg({ quality: 92 })
      .toBuffer();
    writeFileSync(path.join(dir, f), jpeg);
  }
}

async function runVariant(name: string, inputs: string): Promise<SlotMemoryResult> {
  const self = fileURLToPath(import.meta.url);
  const args = [self, '--child', name, '--inputs', inputs, '--engine', v.engine ?? 'fp32'];
  args.push('--batch', v.batch ?? '16', '--rounds', v.rounds ?? '3');
  const env = variantEnv(name, sandboxEnv(process.env));
  const proc = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => proc.on('close', resolve));
  const last = out.trim().split('\n').pop() ?? '';
  if (code !== 0 || !last.startsWith('{')) throw new Error(`variant ${name} exited with ${code}: ${out.slice(-500)}`);
  return JSON.parse(last) as SlotMemoryResult;
}

async function main(): Promise<void> {
  if (v.list) {
    for (const [name, spec] of Object.entries(SLOT_MEMORY_VARIANTS)) console.log(`${name.padEnd(20)} ${spec.about}`);
    return;
  }
  if (v.child) return child(v.child, v.inputs ?? '');
  const names = v.variants ? v.variants.split(',') : Object.keys(SLOT_MEMORY_VARIANTS);
  const inputs = mkdtempSync(path.join(os.tmpdir(), 'cxr-slot-memory-'));
  try {
    await makeInputs(inputs);
    // Builds (or finds) the ONNX file first, so no variant pays for an export.
    const warmUp = ['--child', 'warm-up', '--inputs', inputs, '--engine', v.engine ?? 'fp32', '--rounds', '0'];
    execFileSync(process.execPath, [fileURLToPath(import.meta.url), ...warmUp], { stdio: 'ignore' });
    console.log(
      `${v.engine} engine, ${v.images} full-size images x ${v.rounds} rounds, batch ${v.batch}, ` +
        `${os.availableParallelism()} cores; MiB of RSS`,
    );
    console.log('variant               loaded  peak  idle  heap  external  images/s');
    const results: SlotMemoryResult[] = [];
    for (const name of names) {
      const r = await runVariant(name, inputs);
      results.push(r);
      const cols = [r.loadedMiB, r.peakMiB, r.idleMiB, r.heapMiB].map((n) => String(n).padStart(5));
      console.log(
        `${name.padEnd(20)} ${cols.join(' ')} ${String(r.externalMiB).padStart(9)} ${String(r.imagesPerSecond).padStart(9)}`,
      );
    }
    for (const r of results) console.log(JSON.stringify(r));
  } finally {
    rmSync(inputs, { recursive: true, force: true });
  }
}

await main();
