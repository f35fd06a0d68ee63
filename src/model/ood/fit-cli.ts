import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../../shared/logger.js';
import { decodeToRgb } from '../../shared/image/decode.js';
import { decodeInput } from '../../shared/image/decode-input.js';
import { rocAuc } from '../../shared/metrics.js';
import { defaultModelDir, type PneumoniaClassifier } from '../classifier.js';
import { loadEngine, parseEngine } from '../engine.js';
import { caffePreprocess } from '../preprocess.js';
import { listDataset } from '../train/dataset.js';
import { fitOod, OOD_PERCENTILE, writeOodStats } from './fit.js';
import { mahalanobis, percentile } from './mahalanobis.js';
import { oodProbes } from './probes.js';
import { decodeOodStats, OOD_BIN, OOD_JSON } from './stats-file.js';

// Fits the OOD Gaussian on the pooled features of a model's training images and sets the flag threshold:
//   node dist/model/ood/fit-cli.js --data <train dir> [--model dir] [--limit n] [--write]
// 80% of the images (by content hash) are fitted; the threshold is the 99.5th percentile of the other
// 20%, so it is not set on distances the fit has seen (in-sample distances run low in 2048 dimensions).

const HELD_OUT = 0.2;

const { values: v } = parseArgs({
  options: {
    data: { type: 'string' },
    model: { type: 'string' },
    engine: { type: 'string', default: 'onnx' },
    limit: { type: 'string', default: '0' },
    batch: { type: 'string', default: '32' },
    write: { type: 'boolean', default: false },
  },
});

const log = createLogger({ role: 'ood-fit' });

async function featuresOf(
  c: PneumoniaClassifier,
  images: Uint8Array[],
  batch: number,
): Promise<{ rows: Float32Array; dim: number }> {
  const px = c.info.inputSize * c.info.inputSize * 3;
  const parts: Float32Array[] = [];
  for (let i = 0; i < images.length; i += batch) {
    const group = images.slice(i, i + batch);
    const input = new Float32Array(group.length * px);
    group.forEach((rgb, j) => caffePreprocess(rgb, input, j * px));
    const s = await c.score!(input, group.length);
    if (!s.features) throw new Error('the engine gives no pooled features (ONNX export without a features output?)');
    parts.push(s.features);
    if ((i / batch) % 20 === 0) log.info({ done: i + group.length, of: images.length }, 'features');
  }
  const dim = parts[0].length / Math.min(batch, images.length);
  const rows = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    rows.set(p, at);
    at += p.length;
  }
  return { rows, dim };
}

const heldOut = (sha: string) => parseInt(sha.slice(0, 8), 16) / 0x100000000 < HELD_OUT;

async function main(): Promise<void> {
  if (!v.data) throw new Error('--data <train dir with NORMAL/ and PNEUMONIA/> is required');
  const modelDir = v.model ?? defaultModelDir();
  const c = await loadEngine({ engine: parseEngine(v.engine), modelUri: modelDir, logger: log });
  if (!c.score) throw new Error('this engine cannot give features');
  let items = await listDataset(v.data);
  if (Number(v.limit) > 0) items = items.filter((_, i) => i % Math.ceil(items.length / Number(v.limit)) === 0);
  const t0 = Date.now();
  const rgb = await Promise.all(
    items.map(async (it) => (await decodeInput(new Uint8Array(await readFile(it.path)), c.info.inputSize)).rgb),
  );
  const { rows, dim } = await featuresOf(c, rgb, Number(v.batch));
  const extractS = (Date.now() - t0) / 1000;
  const fitIdx = items.flatMap((it, i) => (heldOut(it.sha256) ? [] : [i]));
  const holdIdx = items.flatMap((it, i) => (heldOut(it.sha256) ? [i] : []));
  const pick = (idx: number[]) => {
    const out = new Float32Array(idx.length * dim);
    idx.forEach((k, j) => out.set(rows.subarray(k * dim, (k + 1) * dim), j * dim));
    return out;
  };
  const t1 = Date.now();
  const fitted = fitOod(pick(fitIdx), fitIdx.length, pick(holdIdx), holdIdx.length, dim);
  const { gaussian: g, bin, heldOut: held, threshold } = fitted;
  const fitS = (Date.now() - t1) / 1000;
  // Distances as shipped (float16 whitening) against exact ones.
  const shipped = decodeOodStats(bin, dim);
  const inSample = mahalanobis(shipped, pick(fitIdx.slice(0, 500)), Math.min(500, fitIdx.length));
  const exact = mahalanobis(g, pick(holdIdx), holdIdx.length);
  const quantErr = Math.max(...Array.from(held, (d, i) => Math.abs(d - exact[i]) / exact[i]));

  const probes = await oodProbes();
  const probeRgb = await Promise.all(probes.map(async (p) => (await decodeToRgb(p.bytes, c.info.inputSize)).rgb));
  const probeD = mahalanobis(shipped, (await featuresOf(c, probeRgb, Number(v.batch))).rows, probes.length);
  const auc = rocAuc([...Array.from(held, () => false), ...probes.map(() => true)], [...held, ...probeD]);
  const q = (p: number) => percentile(held, p).toFixed(1);
  const report = [
    `model ${c.info.id} (${c.backend}); ${items.length} training images: ${fitIdx.length} fitted, ${holdIdx.length} held out; ${dim}-d pooled features`,
    `features ${extractS.toFixed(0)} s, fit ${fitS.toFixed(0)} s; Ledoit-Wolf shrinkage ${g.shrinkage.toFixed(4)}; float16 encoding: max relative distance error ${quantErr.toExponential(2)}`,
    `in-sample (fitted) distances: median ${percentile(inSample, 50).toFixed(1)}`,
    `held-out X-rays: min ${q(0)}, median ${q(50)}, p99 ${q(99)}, p99.5 ${q(99.5)} (threshold), max ${q(100)}`,
    ...probes.map(
      (p, i) =>
        `  ${p.name.padEnd(32)} ${probeD[i].toFixed(1).padStart(8)}  ${probeD[i] > threshold ? 'flagged' : 'NOT flagged'}`,
    ),
    `probes flagged: ${probeD.filter((d) => d > threshold).length}/${probes.length}; smallest probe distance ${Math.min(...probeD).toFixed(1)} vs held-out max ${q(100)}; AUROC (held-out X-rays vs probes) ${auc?.toFixed(4)}`,
  ];
  process.stdout.write(report.join('\n') + '\n');
  if (v.write) {
    await writeOodStats(modelDir, fitted, {
      modelId: c.info.id,
      featureLayer: 'avg_pool',
      thresholdRule: `p${OOD_PERCENTILE} of held-out training distances (${Math.round(HELD_OUT * 100)}% by content hash)`,
      fitImages: fitIdx.length,
      thresholdImages: holdIdx.length,
      data: 'chest-xray-pneumonia/train',
    });
    process.stdout.write(`wrote ${join(modelDir, OOD_JSON)} and ${OOD_BIN} (${bin.length} bytes)\n`);
  }
  c.dispose();
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
