import type { Command } from 'commander';
import Table from 'cli-table3';
import { createEvalQueue, listEvalSchedules, removeEvalSchedule, upsertEvalSchedule } from '../../eval/schedule.js';
import { cronPattern, nonNegative, positiveInt, s3Uri, timeZone, webhookArg } from '../parse.js';
import { webhookHoldsToken } from '../../eval/webhook.js';
import { UsageError } from '../../shared/errors.js';
import { evalJobData, scheduleName, type EvalFlags } from '../parse-eval.js';
import { configFrom, openRuntime, type GlobalFlags, type Runtime } from '../runtime.js';

/** Options of an evaluation, shared by `schedule eval` and `eval run`. */
export function evalOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--data <s3uri>', 'labelled images (NORMAL/ and PNEUMONIA/ folders), s3://BUCKET/PREFIX', s3Uri)
    .requiredOption('--out <s3uri>', 'evaluations root: DATE/metrics.json, DATE/report/, history.jsonl, runs/', s3Uri)
    .option('--name <name>', 'schedule name (one scheduler per name)', scheduleName, 'nightly')
    .option(
      '--margin <x>',
      'alert when sensitivity, specificity or AUC drops by more than this',
      nonNegative('--margin'),
      0.02,
    )
    .option('--psi-limit <x>', 'alert when the score distribution PSI exceeds this', nonNegative('--psi-limit'), 0.2)
    .option(
      '--ks-limit <x>',
      'alert when the score distribution KS statistic exceeds this',
      nonNegative('--ks-limit'),
      0.2,
    )
    .option(
      '--webhook <url|env:NAME>',
      'POST a JSON alert here; env:NAME reads the URL from variable NAME of the worker (keeps a token out of Redis)',
      webhookArg,
    )
    .option('--baseline <file|s3uri>', 'reference metrics (a history entry or a metrics.json)')
    .option('--batch-size <n>', 'images per scoring batch', positiveInt('--batch-size'), 16)
    .option('--tz <zone>', 'time zone of the cron pattern and of the evaluation date (default UTC)', timeZone);
}

async function withRuntime<T>(globals: () => GlobalFlags, fn: (rt: Runtime) => Promise<T>): Promise<T> {
  const rt = await openRuntime(configFrom(globals()), 'schedule');
  try {
    return await fn(rt);
  } finally {
    await rt.close();
  }
}

export function registerSchedule(program: Command, globals: () => GlobalFlags): void {
  const schedule = program.command('schedule').description('scheduled jobs (nightly evaluations)');
  evalOptions(
    schedule.command('eval').description('create or update (by --name) a scheduled evaluation of the production model'),
  )
    .requiredOption('--cron <pattern>', 'cron pattern, e.g. "0 2 * * *"', cronPattern)
    .action(async (flags: EvalFlags & { cron: string }) => {
      const data = evalJobData(flags);
      // The schedule's data lives in Redis, readable by anyone with access to the queue.
      if (data.webhook && webhookHoldsToken(data.webhook)) {
        throw new UsageError(
          '--webhook: this URL holds a credential (user-info or query string) and would be stored in Redis with the schedule; set it in an environment variable of the workers and pass --webhook env:NAME',
        );
      }
      await withRuntime(globals, async (rt) => {
        const queue = createEvalQueue(rt.redis, rt.config.queuePrefix);
        try {
          await upsertEvalSchedule(queue, rt.redis, rt.config.queuePrefix, {
            name: data.name,
            pattern: flags.cron,
            tz: flags.tz,
            data,
          });
          const next = (await listEvalSchedules(queue)).find((s) => s.name === data.name)?.next;
          process.stdout.write(
            `${data.name}: ${flags.cron}${flags.tz ? ` (${flags.tz})` : ''}, next ${next ? new Date(next).toISOString() : '?'}\n`,
          );
        } finally {
          await queue.close();
        }
      });
    });
  schedule
    .command('list')
    .description('list the scheduled evaluations')
    .action(() =>
      withRuntime(globals, async (rt) => {
        const queue = createEvalQueue(rt.redis, rt.config.queuePrefix);
        try {
          const t = new Table({ head: ['name', 'cron', 'tz', 'next', 'data', 'out'] });
          for (const s of await listEvalSchedules(queue)) {
            t.push([
              s.name,
              s.pattern ?? '',
              s.tz ?? 'UTC',
              s.next ? new Date(s.next).toISOString() : '',
              s.data?.data ?? '',
              s.data?.out ?? '',
            ]);
          }
          process.stdout.write(`${t.toString()}\n`);
        } finally {
          await queue.close();
        }
      }),
    );
  schedule
    .command('remove')
    .description('remove a scheduled evaluation')
    .argument('<name>')
    .action((name: string) =>
      withRuntime(globals, async (rt) => {
        const queue = createEvalQueue(rt.redis, rt.config.queuePrefix);
        try {
          const removed = await removeEvalSchedule(queue, name);
          if (!removed) throw new Error(`schedule remove: no schedule named ${name} (see cxr schedule list)`);
          process.stdout.write(`removed ${name}\n`);
        } finally {
          await queue.close();
        }
      }),
    );
}
