// npm run bench:slot-memory: what one scoring slot (a sandbox process) holds, phase by phase, on the worker's
// own decode and ONNX Runtime paths: model loaded, full-size images decoded, batches scored, then idle.
// One variant per process (--sharp-cache, --arena), so each starts clean; prints one JSON line per run.
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pLimit from 'p-limit';
import sharp from 'sharp';
import { decodeInput } from '../shared/image/decode-input.js';
import { repoRoot } from '../shared/paths.js';
import { caffePreprocess } from '../model/preprocess.js';
import { ensureOnnxModel } from '../model/onnx/onnx-file.js';
import { importOrt } from '../model/onnx/ort-session.js';

const { values: v } = parseArgs({
  options: {
    images: { type: 'string', default: '64' },
    batch: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '3' },
    'sharp-cache': { type: 'string', default: 'default' },
    arena: { type: 'string', default: 'on' },
  },
});

const MiB = 1024 * 1024;
const rssMiB = () => Math.round(process.memoryUsage().rss / MiB);
const peakMiB = () => Math.round(process.resourceUsage().maxRSS / 1024);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  if (v['sharp-cache'] === 'off') sharp.cache(false);
  const phases: Record<string, { rss: number; peak: number }> = {};
  const mark = (name: string) => (phases[name] = { rss: rssMiB(), peak: peakMiB() });
  mark('start');

  // Full-size inputs as bench:scale makes them: 1600×1300 grey JPEGs (the shared set is 224×224).
  const data =
    process.env.CXR_DATASET ?? path.resolve(repoRoot(), '..', 'shared', 'datasets', 'chest-xray-pneumonia', 'train');
  const files = readdirSync(path.join(data, 'PNEUMONIA')).sort().slice(0, Number(v.images));
  const images = await Promise.all(
    files.map(async (f) =>
      sharp(readFileSync(path.join(data, 'PNEUMONIA', f)))
        .resize(1600, 1300, { fit: 'fill' })
        .greyscale()
        .jpeg({ quality: 92 })
        .toBuffer(),
    ),
  );
  mark('inputs made');

  const ort = await importOrt();
  const file = await ensureOnnxModel({});
  const threads = Math.max(1, os.availableParallelism());
  const session = await ort.InferenceSession.create(file.bytes, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    executionProviders: ['cpu'],
    enableCpuMemArena: v.arena !== 'off',
  });
  mark('model loaded');

  const size = file.model.meta.inputSize;
  const batch = Number(v.batch);
  const decodeLimit = pLimit(Math.max(2, os.availableParallelism()));
  for (let round = 0; round < Number(v.rounds); round++) {
    for (let i = 0; i < images.length; i += batch) {
      const part = images.slice(i, i + batch);
      const rgb = await Promise.all(part.map((b) => decodeLimit(async () => (await decodeInput(b, size)).rgb)));
      if (round === 0 && i === 0) mark('first batch decoded');
      const input = new Float32Array(part.length * size * size * 3);
      rgb.forEach((p, k) => caffePreprocess(p, input, k * size * size * 3));
      const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', input, [part.length, size, size, 3]) };
      await session.run(feeds);
      if (round === 0 && i === 0) mark('first batch scored');
    }
    mark(`round ${round + 1} done`);
  }
  await sleep(5000);
  mark('idle 5 s');
  const out = {
    variant: { sharpCache: v['sharp-cache'], arena: v.arena },
    images: images.length,
    batch,
    rounds: Number(v.rounds),
    threads,
    phases,
    peakMiB: peakMiB(),
  };
  console.log(
    Object.entries(phases)
      .map(([k, p]) => `${k.padEnd(20)} rss ${String(p.rss).padStart(5)} MiB  peak ${String(p.peak).padStart(5)} MiB`)
      .join('\n'),
  );
  console.log(JSON.stringify(out));
  await session.release();
}

await main();
