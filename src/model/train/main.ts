import { ensureBackbone } from '../backbone-fetch.js';
import { backboneHash } from '../backbone.js';
import { createLogger } from '../../shared/logger.js';
import { listDataset } from './dataset.js';
import { extractFeatures } from './extract.js';
import { groupByPatient, parseGroupBy } from './groups.js';
import { defaultFeatureDir } from './features.js';
import { parseTrainArgs } from './options.js';
import { limitItems, planFeatures } from './plan.js';
import { runTraining } from './run.js';

async function main(): Promise<void> {
  const opts = parseTrainArgs(process.argv.slice(2));
  const log = createLogger({ role: 'train' });
  const backboneDir = await ensureBackbone(undefined, { logger: log });
  const bbHash = await backboneHash();
  const grouped = groupByPatient(await listDataset(opts.data), (i) => i.path, parseGroupBy(opts.groupBy));
  const all = grouped.items;
  const items = limitItems(all, opts.limit, opts.seed);
  log.info({ images: items.length, of: all.length, grouping: grouped.stats }, 'dataset listed');
  const plan = planFeatures(items, opts.valFraction, opts.augmentCopies, opts.seed);
  const featureRoot = defaultFeatureDir();
  if (!opts.featuresReadyOnly) {
    const r = await extractFeatures(plan.jobs, {
      backboneDir,
      backboneHash: bbHash,
      featureRoot,
      workers: opts.workers,
      logger: log,
    });
    log.info(r, 'features ready');
  }
  if (opts.extractOnly) return;
  await runTraining({ opts, plan, featureRoot, backboneHash: bbHash, logger: log, grouping: grouped.stats });
}

main().catch((err: unknown) => {
  process.stderr.write(`train: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
