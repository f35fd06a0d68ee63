import type { Command } from 'commander';
import { promoteModel } from '../../shared/model-pointer.js';
import { configFrom, openRuntime, type GlobalFlags } from '../runtime.js';

/** `cxr models promote MODEL --to NAME`: writes NAME/pointer.json; CXR_MODEL_URI=NAME then scores with MODEL. */
export function registerPromote(program: Command, globals: () => GlobalFlags): void {
  const models = program.commands.find((c) => c.name() === 'models') ?? program.command('models');
  models
    .command('promote')
    .description(
      "point a model name (e.g. s3://BUCKET/models/production) at a model folder, e.g. a training run's best/",
    )
    .argument('<model>', 's3://BUCKET/RUNS/RUN_ID/best (or any S3 model folder)')
    .requiredOption('--to <uri>', 's3://BUCKET/models/production: where pointer.json is written')
    .action(async (model: string, flags: { to: string }) => {
      const rt = await openRuntime(configFrom(globals()), 'models');
      try {
        const p = await promoteModel(rt.s3, model, flags.to);
        process.stdout.write(JSON.stringify(p) + '\n');
      } finally {
        await rt.close();
      }
    });
}
