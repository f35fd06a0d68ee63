import type { Command } from 'commander';
import { backboneHash } from '../../model/backbone.js';
import { parseTrainArgs } from '../../model/train/options.js';
import { loadLabelsFile } from '../labels-file.js';
import { assertRunId, newRunId } from '../../run/index.js';
import { parseS3Uri } from '../../shared/s3/uri.js';
import { createTrainQueue } from '../../train-queue/jobs.js';
import { watchTraining } from '../../train-queue/progress.js';
import { readSpec } from '../../train-queue/run-io.js';
import { resumeTrainRun, startTrainRun } from '../../train-queue/start-run.js';
import type { TrainRecipe } from '../../train-queue/types.js';
import { positiveInt } from '../parse.js';
import { configFrom, openRuntime, type GlobalFlags } from '../runtime.js';

/** Recipe flags passed through to the training recipe's own parser (src/model/train/options.ts). */
const RECIPE_FLAGS = [
  'seed',
  'val-fraction',
  'augment-copies',
  'class-weights',
  'optimizer',
  'lr',
  'batch-size',
  'epochs',
  'lr-schedule',
  'clip-norm',
  'weight-decay',
  'dropout',
  'min-epochs',
  'patience',
  'threshold-rule',
  'group-by',
  'limit',
  'version',
  'train-from',
  'warmup-epochs',
  'augment',
  'label-smoothing',
  'holdout-fraction',
  'init-from',
  'select-on',
] as const;

const camel = (f: string) => f.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Recipe from the flags given, with the recipe's defaults and validation. Pure. */
export function recipeFromFlags(data: string, flags: Record<string, unknown>): TrainRecipe {
  const argv = ['--data', data, '--train-from', 'conv5'];
  for (const f of RECIPE_FLAGS) if (flags[camel(f)] !== undefined) argv.push(`--${f}`, String(flags[camel(f)]));
  const { data: _d, out: _o, workers: _w, extractOnly: _e, featuresReadyOnly: _f, ...recipe } = parseTrainArgs(argv);
  return recipe;
}

interface TrainFlags {
  data?: string;
  out?: string;
  shards: number;
  localEpochs: number;
  runId?: string;
  resume?: string;
  labels?: string;
  wait?: boolean;
  [recipe: string]: unknown;
}

export function registerTrain(program: Command, globals: () => GlobalFlags): void {
  const cmd = program
    .command('train')
    .description(
      'train the pneumonia head with shard jobs on the train queue (federated averaging per round); run `cxr worker --queues train`',
    )
    .option('--data <uri>', 's3://BUCKET/PREFIX with NORMAL/ and PNEUMONIA/ folders (or --labels)')
    .option('--out <uri>', 's3://BUCKET/RUNS: the run writes RUNS/RUN_ID/')
    .option('--shards <k>', 'shard jobs per round', positiveInt('--shards'), 2)
    .option(
      '--local-epochs <n>',
      'passes over its shard each shard job makes per round',
      positiveInt('--local-epochs'),
      1,
    )
    .option('--run-id <id>', 'run id (default: generated); repeating it enqueues nothing twice')
    .option('--resume <runId>', 'continue a run from its last merged round, from S3 alone (needs --out)')
    .option(
      '--labels <file>',
      'labels file (local or s3://), CSV key,label[,group] or JSON lines (optional "group": patient id)',
    )
    .option('--wait', 'print each round as it is merged, until the run ends');
  for (const f of RECIPE_FLAGS) cmd.option(`--${f} <v>`, `training recipe --${f} (see src/model/train/options.ts)`);
  cmd.action(async (flags: TrainFlags) => {
    const rt = await openRuntime(configFrom(globals()), 'train');
    const queue = createTrainQueue(rt.redis, rt.config.queuePrefix);
    const deps = { s3: rt.s3, queue, logger: rt.logger };
    try {
      if (!flags.out) throw new Error('train: --out s3://BUCKET/RUNS is required');
      const out = parseS3Uri(flags.out);
      let runId: string;
      if (flags.resume) {
        runId = assertRunId(flags.resume);
        const r = await resumeTrainRun(deps, out, runId);
        rt.logger.info({ ...r }, r.done ? 'run already finished' : 'run resumed');
      } else {
        if (!flags.data) throw new Error('train: --data s3://BUCKET/PREFIX is required (or --resume RUN_ID)');
        const recipe = recipeFromFlags(flags.data, flags);
        const file = flags.labels ? await loadLabelsFile(rt.s3, flags.labels) : undefined;
        const labels = file ? { byKey: file.labels, groups: file.groups, from: file.from } : undefined;
        runId = assertRunId(flags.runId ?? newRunId().replace(/^run-/, 'train-'));
        await startTrainRun(deps, {
          runId,
          data: parseS3Uri(flags.data),
          out,
          shards: flags.shards,
          localEpochs: flags.localEpochs,
          recipe,
          backboneSha256: await backboneHash(),
          labels,
        });
      }
      process.stdout.write(`${runId}\n`);
      if (flags.wait) {
        const spec = await readSpec(rt.s3, out, runId);
        const status = await watchTraining(rt.s3, out, runId, spec.recipe.epochs, (line) =>
          process.stdout.write(line + '\n'),
        );
        process.stdout.write(
          `done: ${status.lastEpoch} epochs${status.stoppedEarly ? ' (stopped early)' : ''}, best epoch ${status.bestEpoch}, ` +
            `model s3://${out.bucket}/${out.prefix ? out.prefix.replace(/\/$/, '') + '/' : ''}${runId}/best/\n`,
        );
      }
    } finally {
      await queue.close();
      await rt.close();
    }
  });
}
