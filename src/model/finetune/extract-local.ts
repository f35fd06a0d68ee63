// Fills the prefix-activation and GAP-feature caches for a local dataset folder (NORMAL/, PNEUMONIA/).
// node dist/model/finetune/extract-local.js --data DIR [--copies 2] [--layer activation_39] [--limit N]
import { parseArgs } from 'node:util';
import { createLogger } from '../../shared/logger.js';
import { ensureBackbone } from '../backbone-fetch.js';
import { backboneHash } from '../backbone.js';
import { listDataset } from '../train/dataset.js';
import { defaultFeatureDir } from '../train/features.js';
import { defaultActivationDir, type PrefixLayer } from './activations.js';
import { extractPrefix } from './prefix-extract.js';

const { values: v } = parseArgs({
  options: {
    data: { type: 'string' },
    copies: { type: 'string', default: '2' },
    layer: { type: 'string', default: 'activation_39' },
    limit: { type: 'string', default: '0' },
  },
});
if (!v.data) throw new Error('--data DIR is required');
const log = createLogger({ role: 'extract-prefix' });
const items = await listDataset(v.data);
const limit = Number(v.limit);
const chosen = limit > 0 ? items.slice(0, limit) : items;
const jobs = [];
for (let c = 0; c <= Number(v.copies); c++)
  for (const it of chosen) jobs.push({ path: it.path, sha256: it.sha256, copy: c });
const r = await extractPrefix(jobs, {
  backboneDir: await ensureBackbone(undefined, { logger: log }),
  backboneHash: await backboneHash(),
  featureRoot: defaultFeatureDir(),
  activationRoot: defaultActivationDir(),
  layer: v.layer as PrefixLayer,
  logger: log,
});
log.info(r, 'prefix extraction done');
