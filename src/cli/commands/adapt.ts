import type { Command } from 'commander';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBackbone } from '../../model/backbone-fetch.js';
import { backboneHash } from '../../model/backbone.js';
import { defaultModelDir } from '../../model/classifier.js';
import { adaptToSite, loadFinetuned, referenceStats, writeAdapted } from '../../model/finetune/adapt.js';
import { defaultActivationDir } from '../../model/finetune/activations.js';
import type { ActivationBatches } from '../../model/finetune/site-stats.js';
import { ensureTrainingBackend } from '../../model/finetune/training-backend.js';
import { localModelDir, uploadModelDir } from '../../model/io/s3-io.js';
import { PREFIX_TOP } from '../../model/resnet50.js';
import { defaultFeatureDir } from '../../model/train/features.js';
import { listImages } from '../../shared/s3/list-images.js';
import { createLogger } from '../../shared/logger.js';
import { createS3Client } from '../../shared/s3/client.js';
import { parseS3Uri } from '../../shared/s3/uri.js';
import { seededRandom, shuffled } from '../../shared/sampling.js';
import { activationsForItems, readActivationBatch } from '../../train-queue/finetune/activations-s3.js';
import { positiveInt } from '../parse.js';
import { configFrom, type GlobalFlags } from '../runtime.js';

interface AdaptFlags {
  model?: string;
  data?: string;
  out?: string;
  limit: number;
  asReference?: boolean;
  restandardiseHead?: boolean;
  version?: string;
}

const BATCH = 32;

/** `cxr models adapt`: label-free adaptation of a fine-tuned model to a site's images (AdaBN: BatchNorm statistics moved by the site's difference). */
export function registerAdapt(models: Command): void {
  models
    .command('adapt')
    .description(
      'adapt a fine-tuned model to a site without labels: BatchNorm statistics moved by how its images differ from the reference; writes a new model version',
    )
    .option(
      '--model <dir|s3://…>',
      'fine-tuned model folder or S3 prefix (default: CXR_MODEL_URI or the shipped model)',
    )
    .requiredOption('--data <s3://…>', "the site's unlabelled images (a prefix)")
    .requiredOption('--out <dir|s3://…>', 'where the adapted model folder goes')
    .option('--limit <n>', 'images sampled from --data (seeded)', positiveInt('--limit'), 1000)
    .option(
      '--as-reference',
      "measure --data (the model's training images) as its reference statistics, weights unchanged",
    )
    .option(
      '--restandardise-head',
      "also re-standardise the head's input to the site's feature statistics (measured harmful on the shipped model: docs/training-queue.md)",
    )
    .option('--version <v>', 'version of the new model (default: the source version + "-site")')
    .action(async (flags: AdaptFlags, cmd: Command) => {
      const logger = createLogger({ role: 'adapt' });
      const modelUri = flags.model ?? (process.env.CXR_MODEL_URI || defaultModelDir());
      const s3 = createS3Client(configFrom(cmd.optsWithGlobals<GlobalFlags>()).s3);
      const work = await mkdtemp(join(tmpdir(), 'cxr-adapt-'));
      try {
        await ensureTrainingBackend(logger);
        const f = await loadFinetuned(await localModelDir(modelUri, s3));
        const layer = PREFIX_TOP[f.model.trainFrom];
        if (!layer) throw new Error(`model ${f.meta.id}: train-from ${f.model.trainFrom} has no frozen prefix`);
        const source = parseS3Uri(flags.data!);
        const listed = await listImages(s3, source);
        if (listed.length === 0) throw new Error(`no images under ${flags.data}`);
        const items = shuffled(listed, seededRandom(42))
          .slice(0, flags.limit)
          .map((o) => ({ key: o.key, etag: o.etag, label: 0, group: o.etag }));
        const bbHash = await backboneHash();
        const fd = {
          s3,
          logger,
          featureRoot: defaultFeatureDir(),
          activationRoot: defaultActivationDir(),
          backboneHash: bbHash,
          backboneDir: () => ensureBackbone(undefined, { logger }),
        };
        const acts = await activationsForItems(fd, source.bucket, items, [0], layer);
        const batches: ActivationBatches = async function* () {
          for (let i = 0; i < items.length; i += BATCH) {
            const b = items.slice(i, i + BATCH);
            yield {
              x: await readActivationBatch(
                fd,
                layer,
                b.map((it) => ({ sha: acts.sha.get(it)!, copy: 0 })),
              ),
              n: b.length,
            };
          }
        };
        const started = Date.now();
        const stats = flags.asReference
          ? await referenceStats(f, batches)
          : await adaptToSite(f, batches, { restandardiseHead: flags.restandardiseHead });
        const local = flags.out!.startsWith('s3://') ? join(work, 'out') : flags.out!;
        const meta = await writeAdapted(
          f,
          stats,
          local,
          {
            kind: flags.asReference
              ? 'reference statistics'
              : flags.restandardiseHead
                ? 'site adaptation (AdaBN + head re-standardisation)'
                : 'site adaptation (AdaBN)',
            data: flags.data,
            images: items.length,
          },
          flags.version ?? (flags.asReference ? f.meta.version : `${f.meta.version}-site`),
        );
        if (flags.out!.startsWith('s3://'))
          await uploadModelDir(s3, local, flags.out!.replace(/\/?$/, '/'), await readdir(local));
        logger.info(
          { from: f.meta.id, to: meta.id, images: items.length, seconds: (Date.now() - started) / 1000 },
          'model adapted',
        );
        process.stdout.write(`${meta.id} ${flags.out}\n`);
      } finally {
        await rm(work, { recursive: true, force: true });
        s3.destroy();
      }
    });
}
