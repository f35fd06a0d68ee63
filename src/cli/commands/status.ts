import type { Command } from 'commander';
import { assertRunId } from '../../shared/run/batching.js';
import { configFrom, openRuntime, type GlobalFlags } from '../runtime.js';
import { waitAndReport } from './score.js';

export function registerStatus(program: Command, globals: () => GlobalFlags): void {
  program
    .command('status')
    .description('progress of a scoring run')
    .argument('<runId>', 'the run id printed by score')
    .option('--watch', 'follow the run with a progress bar until it ends, then print its metrics')
    .action(async (runId: string, flags: { watch?: boolean }) => {
      const rt = openRuntime(configFrom(globals()), 'status');
      try {
        const state = await rt.store.get(assertRunId(runId));
        if (!state) throw new Error(`run ${runId} is unknown to Redis at ${new URL(rt.config.redisUrl).host}`);
        if (flags.watch) return await waitAndReport(rt, runId);
        const done = state.scored + state.failed;
        process.stdout.write(
          `${state.runId}: ${state.status}, ${done}/${state.totalKeys} images (${state.scored} scored, ${state.failed} failed), ` +
            `batches ${state.doneBatches}/${state.totalBatches}, output s3://${state.out.bucket}/${state.out.prefix}\n`,
        );
      } finally {
        await rt.close();
      }
    });
}
