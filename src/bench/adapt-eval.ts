// Does `models adapt` help on a shifted site and do no harm on a matching one? Takes a fine-tuned model and
// its run's patient-grouped validation split, simulates sites (brightness/contrast, gamma, blur + noise),
// adapts on one half of the validation patients (labels unused) and scores the other half before and after.
// node dist/bench/adapt-eval.js --model DIR --images DATASET_ROOT [--run s3://B/runs/RUN] [--limit 600]. Last line: JSON.
// Without --run the split is recomputed from DATASET_ROOT/train with the model's recipe (checked against its counts).
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp, { type Sharp } from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { ensureBackbone } from '../model/backbone-fetch.js';
import { backboneHash } from '../model/backbone.js';
import { adaptToSite, loadFinetuned, type AdaptOptions, type LoadedFinetuned } from '../model/finetune/adapt.js';
import { activationLength, activationPath, readActivationInto } from '../model/finetune/activations.js';
import { predictBatch } from '../model/finetune/finetune-step.js';
import { extractPrefix } from '../model/finetune/prefix-extract.js';
import type { ActivationBatches } from '../model/finetune/site-stats.js';
import { ensureTrainingBackend } from '../model/finetune/training-backend.js';
import { PREFIX_TOP } from '../model/resnet50.js';
import { binaryMetrics } from '../shared/metrics.js';
import { loadConfig } from '../shared/config.js';
import { createLogger } from '../shared/logger.js';
import { getJsonIfExists } from '../shared/s3/objects.js';
import { createS3Client } from '../shared/s3/client.js';
import { parseS3Uri } from '../shared/s3/uri.js';
import { seededRandom, shuffled } from '../shared/sampling.js';
import type { TrainRunSpec } from '../train-queue/types.js';
import { labelItems, splitRun } from '../train-queue/plan-run.js';
import { labelFromKey } from '../shared/labels.js';
import { readMetadata } from '../model/metadata.js';

const SHIFTS: Record<string, (img: Sharp) => Sharp> = {
  'none (matching site)': (i) => i,
  'darker, low contrast (x0.6 - 10)': (i) => i.linear(0.6, -10),
  'gamma 2.2 (brighter mid-tones)': (i) => i.gamma(2.2),
  'blur 1.5 px + noise': (i) => i.blur(1.5),
};

const { values: v } = parseArgs({
  options: {
    model: { type: 'string' },
    run: { type: 'string' },
    images: { type: 'string' },
    limit: { type: 'string', default: '600' },
  },
});
if (!v.model || !v.images)
  throw new Error(
    '--model DIR --images DATASET_ROOT are required (--run s3://B/runs/RUN reads the split from the run)',
  );
const log = createLogger({ role: 'adapt-eval' });
await ensureTrainingBackend(log);
const spec = v.run ? await runSpec(v.run) : await localSplit(v.images, v.model);

/** The training run's split, as its run.json records it. */
async function runSpec(uri: string): Promise<Pick<TrainRunSpec, 'val'>> {
  const s3 = createS3Client(loadConfig(process.env).s3);
  const runLoc = parseS3Uri(uri);
  try {
    return (await getJsonIfExists<TrainRunSpec>(s3, runLoc.bucket, `${runLoc.prefix.replace(/\/$/, '')}/run.json`))!;
  } finally {
    s3.destroy();
  }
}

/** The split recomputed from the dataset's `train/` folder as the run listed it (keys train/CLASS/FILE, ETag = MD5), with the model's recipe. */
async function localSplit(root: string, model: string): Promise<Pick<TrainRunSpec, 'val'>> {
  const meta = await readMetadata(model);
  const recipe = meta.recipe as { seed: number; valFraction: number; limit?: number; groupBy?: string };
  const keys = (
    await Promise.all(
      ['NORMAL', 'PNEUMONIA'].map(async (c) => (await readdir(join(root, 'train', c))).map((f) => `train/${c}/${f}`)),
    )
  )
    .flat()
    .sort();
  const objects = await Promise.all(
    keys.map(async (key) => ({
      key,
      etag: createHash('md5')
        .update(await readFile(join(root, key)))
        .digest('hex'),
      size: 0,
    })),
  );
  const { val, train } = splitRun(labelItems(objects, labelFromKey).items, {
    limit: recipe.limit ?? 0,
    valFraction: recipe.valFraction,
    seed: recipe.seed,
    groupBy: recipe.groupBy ?? 'auto',
  });
  const want = meta.split as { train: number; val: number } | undefined;
  if (want && (want.val !== val.length || want.train !== train.length))
    throw new Error(
      `recomputed split ${train.length}/${val.length} differs from the model's ${want.train}/${want.val}`,
    );
  return { val };
}
const rand = seededRandom(7);
const groups = shuffled([...new Set(spec.val.map((i) => i.group))].sort(), rand);
const adaptGroups = new Set(groups.slice(0, Math.floor(groups.length / 2)));
const items = shuffled(spec.val, rand).slice(0, Number(v.limit));
const adaptSet = items.filter((i) => adaptGroups.has(i.group));
const evalSet = items.filter((i) => !adaptGroups.has(i.group));
const bb = await backboneHash();
const probe = await loadFinetuned(v.model);
const layer = PREFIX_TOP[probe.model.trainFrom]!;
const work = await mkdtemp(join(tmpdir(), 'cxr-adapt-eval-'));
const id = { mean: tf.zeros([2048]), std: tf.ones([2048]) };
const noise = (buf: Buffer): Buffer => {
  const r = seededRandom(1);
  return Buffer.from(buf.map((p) => Math.max(0, Math.min(255, p + Math.round((r() - 0.5) * 24)))));
};

async function shifted(name: string, list: typeof items): Promise<string[]> {
  const jobs = [];
  for (const it of list) {
    const src = await readFile(join(v.images!, it.key));
    let img = SHIFTS[name](sharp(src));
    let bytes = await img.jpeg({ quality: 95 }).toBuffer();
    if (name.includes('noise')) {
      const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
      img = sharp(noise(data), { raw: { width: info.width, height: info.height, channels: info.channels } });
      bytes = await img.jpeg({ quality: 95 }).toBuffer();
    }
    const sha = createHash('sha256').update(bytes).digest('hex');
    const path = join(work, `${sha}.jpeg`);
    await writeFile(path, bytes);
    jobs.push({ path, sha256: sha, copy: 0 });
  }
  await extractPrefix(jobs, {
    backboneDir: await ensureBackbone(),
    backboneHash: bb,
    featureRoot: join(work, 'f'),
    activationRoot: join(work, 'a'),
    layer,
    logger: log,
  });
  return jobs.map((j) => j.sha256);
}

const batchesOf = (shas: string[]): ActivationBatches =>
  async function* () {
    const len = activationLength(layer);
    for (let i = 0; i < shas.length; i += 32) {
      const b = shas.slice(i, i + 32);
      const x = new Float32Array(b.length * len);
      await Promise.all(
        b.map((s, k) => readActivationInto(activationPath(join(work, 'a'), bb, layer, s, 0), layer, x, k * len)),
      );
      yield { x, n: b.length };
    }
  };

async function scores(f: LoadedFinetuned, shas: string[]): Promise<number[]> {
  const out: number[] = [];
  for await (const b of batchesOf(shas)()) out.push(...predictBatch(f.model, id, b.x, b.n));
  return out;
}

const truth = evalSet.map((i) => i.label === 1);
const VARIANTS: Record<string, AdaptOptions> = {
  'BatchNorm shift': {},
  'BatchNorm shift + head re-standardised': { restandardiseHead: true },
};
const pct = (x: number | null) => (x === null ? 'n/a' : (100 * x).toFixed(1));
const summary = (m: ReturnType<typeof binaryMetrics>) => ({
  accuracy: m.accuracy,
  auc: m.rocAuc,
  sensitivity: m.recall,
  specificity: m.specificity,
});
const rows = [];
for (const name of Object.keys(SHIFTS)) {
  const [a, e] = [await shifted(name, adaptSet), await shifted(name, evalSet)];
  const before = await loadFinetuned(v.model);
  const t = before.meta.threshold;
  const mb = binaryMetrics(truth, await scores(before, e), t);
  const after: Record<string, ReturnType<typeof summary>> = {};
  for (const [variant, opts] of Object.entries(VARIANTS)) {
    const adapted = await loadFinetuned(v.model);
    await adaptToSite(adapted, batchesOf(a), opts);
    const ma = binaryMetrics(truth, await scores(adapted, e), t);
    after[variant] = summary(ma);
    console.log(
      `${name.padEnd(34)} ${variant.padEnd(40)} acc ${pct(mb.accuracy)} -> ${pct(ma.accuracy)}  AUC ${mb.rocAuc?.toFixed(4)} -> ${ma.rocAuc?.toFixed(4)}  sens ${pct(mb.recall)} -> ${pct(ma.recall)}  spec ${pct(mb.specificity)} -> ${pct(ma.specificity)}`,
    );
  }
  rows.push({ shift: name, adaptImages: a.length, evalImages: e.length, before: summary(mb), after });
}
console.log(
  JSON.stringify({
    model: probe.meta.id,
    threshold: probe.meta.threshold,
    adaptOn: 'half of the validation patients (labels unused)',
    evalOn: 'the other half',
    rows,
  }),
);
await rm(work, { recursive: true, force: true });
