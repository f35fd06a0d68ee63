// npm run bench:train: what fine-tuning costs on this machine. The frozen prefix on ONNX Runtime (images/s
// into the fp16 activation cache), then suffix training images/s for one trainer and for K side by side.
// Flags: --trainers 2 --batch 16 --steps 6 --prefix-images 64 --train-from conv5. Last stdout line: JSON.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureBackbone } from '../model/backbone-fetch.js';
import { backboneHash } from '../model/backbone.js';
import { extractPrefix } from '../model/finetune/prefix-extract.js';
import { PREFIX_TOP, TRAIN_FROM, type TrainFrom } from '../model/resnet50.js';
import { listDataset } from '../model/train/dataset.js';
import { repoRoot } from '../shared/paths.js';
import { measureSuffixTrainingProcesses } from './suffix-training.js';

const { values: v } = parseArgs({
  options: {
    trainers: { type: 'string', default: '2' },
    batch: { type: 'string', default: '16' },
    steps: { type: 'string', default: '6' },
    'prefix-images': { type: 'string', default: '64' },
    'train-from': { type: 'string', default: 'conv5' },
    data: { type: 'string', default: join(repoRoot(), '..', 'shared', 'datasets', 'chest-xray-pneumonia', 'train') },
  },
});
const trainFrom = v['train-from'] as TrainFrom;
if (!TRAIN_FROM.includes(trainFrom) || !PREFIX_TOP[trainFrom])
  throw new Error(`--train-from ${trainFrom}: expected conv5 or conv4`);
const [k, batch, steps, nPrefix] = [v.trainers, v.batch, v.steps, v['prefix-images']].map(Number);

const work = await mkdtemp(join(tmpdir(), 'cxr-bench-train-'));
const items = (await listDataset(v.data)).filter((_, i) => i % 37 === 0).slice(0, nPrefix);
const prefix = await extractPrefix(
  items.map((it) => ({ path: it.path, sha256: it.sha256, copy: 0 })),
  {
    backboneDir: await ensureBackbone(),
    backboneHash: await backboneHash(),
    featureRoot: join(work, 'f'),
    activationRoot: join(work, 'a'),
    layer: PREFIX_TOP[trainFrom]!,
    threads: 2,
  },
);
await rm(work, { recursive: true, force: true });
console.log(
  `prefix (${PREFIX_TOP[trainFrom]}) on ONNX Runtime, 2 threads: ${prefix.imagesPerSec.toFixed(1)} images/s over ${prefix.computed} images (decode + ResNet50 + fp16 cache writes)`,
);
const one = await measureSuffixTrainingProcesses({ batch, steps, trainFrom, warmup: 1, processes: 1 });
console.log(`suffix training, 1 trainer, batch ${batch}: ${one.imagesPerSec.toFixed(2)} images/s`);
const many = await measureSuffixTrainingProcesses({ batch, steps, trainFrom, warmup: 1, processes: k });
console.log(
  `suffix training, ${k} trainers side by side, batch ${batch} each: ${many.imagesPerSec.toFixed(2)} images/s (x${(many.imagesPerSec / one.imagesPerSec).toFixed(2)})`,
);
console.log(
  JSON.stringify({
    trainFrom,
    batch,
    prefixImagesPerSec: prefix.imagesPerSec,
    suffixImagesPerSec: { trainers1: one.imagesPerSec, [`trainers${k}`]: many.imagesPerSec },
    speedup: many.imagesPerSec / one.imagesPerSec,
    peakRssBytes: Math.max(...many.perProcess.map((p) => p.peakRssBytes)),
  }),
);
