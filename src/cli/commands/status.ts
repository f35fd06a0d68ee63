import type { Command } from 'commander';
import { UserError } from '../../shared/errors.js';
import { redisDisplayUrl } from '../../shared/redis-connection.js';
import { assertRunId, type RunState } from '../../run/index.js';
import { configFrom, openRuntime, type GlobalFlags } from '../runtime.js';
import { waitAndReport, waitOptions, type WaitFlags } from './score.js';

/** One line: state, counts, batches, and for a running run how long since it last moved. Pure. */
export function statusLine(s: RunState, now: number, workers?: number): string {
  const parts = [
    `${s.runId}: ${s.status}${s.reason ? ` (${s.reason})` : ''}`,
    `${s.scored + s.failed}/${s.totalKeys} images (${s.scored} scored, ${s.failed} failed${s.skipped ? `, ${s.skipped} objects skipped` : ''})`,
    `batches ${s.doneBatches}/${s.totalBatches}${s.listing ? ' so far (still listing)' : ''}${s.generation ? ` in attempt generation ${s.generation}` : ''}`,
  ];
  if (s.status === 'running') {
    if (s.progressAt) parts.push(`last progress ${Math.max(0, Math.round((now - s.progressAt) / 1000))} s ago`);
    if (workers !== undefined) parts.push(`${workers} worker${workers === 1 ? '' : 's'} alive`);
  }
  parts.push(`output s3://${s.out.bucket}/${s.out.prefix}`);
  return parts.join(', ');
}

export function registerStatus(program: Command, globals: () => GlobalFlags): void {
  const cmd = program
    .command('status')
    .description('state of a scoring run: running, done, done-with-failures or failed')
    .argument('<runId>', 'the run id printed by score')
    .option('--watch', 'follow the run with a progress bar until it ends (or is stuck), then print its metrics');
  waitOptions(cmd).action(async (runId: string, flags: WaitFlags & { watch?: boolean }) => {
    const rt = await openRuntime(configFrom(globals()), 'status');
    try {
      const state = await rt.store.get(assertRunId(runId));
      if (!state) {
        throw new UserError(
          `run ${runId} is unknown to Redis at ${redisDisplayUrl(rt.config.redisUrl)}; if Redis lost it, cxr score --resume ${runId} --out s3://BUCKET/OUTPREFIX rebuilds it from S3`,
        );
      }
      if (flags.watch) return await waitAndReport(rt, runId, flags);
      const workers = state.status === 'running' ? await rt.queue.getWorkersCount().catch(() => undefined) : undefined;
      process.stdout.write(`${statusLine(state, Date.now(), workers)}\n`);
    } finally {
      await rt.close();
    }
  });
}
