import type { Command } from 'commander';
import { dateIn } from '../../eval/firing.js';
import { readHistory } from '../../eval/history.js';
import { runEvaluation } from '../../eval/run-eval.js';
import { productionCamProvider } from '../../report/cam-provider.js';
import { parseS3Uri } from '../../shared/s3/uri.js';
import { UsageError } from '../../shared/errors.js';
import { historyTable } from '../history-table.js';
import { s3Uri } from '../parse.js';
import { evalJobData, type EvalFlags } from '../parse-eval.js';
import { configFrom, openRuntime, type GlobalFlags } from '../runtime.js';
import { evalOptions } from './schedule.js';

export function registerEvals(program: Command, globals: () => GlobalFlags): void {
  const evalCmd = program.command('eval').description('evaluate the production model on labelled images');
  evalOptions(
    evalCmd
      .command('run')
      .description('run one evaluation now (needs running score workers); prints the history entry as JSON'),
  )
    .option('--date <yyyy-mm-dd>', 'evaluation date (default today in --tz)')
    .action(async (flags: EvalFlags & { date?: string }) => {
      const data = evalJobData(flags);
      const date = flags.date ?? dateIn(Date.now(), data.tz);
      if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new UsageError(`--date must be YYYY-MM-DD, got ${date}`);
      const rt = await openRuntime(configFrom(globals()), 'eval');
      try {
        const entry = await runEvaluation({ ...rt, camModel: productionCamProvider(rt.s3) }, data, date);
        process.stdout.write(`${JSON.stringify(entry)}\n`);
      } finally {
        await rt.close();
      }
    });

  program
    .command('evals')
    .description('evaluation results')
    .command('history')
    .description('print the evaluation history as a table')
    .requiredOption('--out <s3uri>', 'evaluations root given to schedule eval / eval run', s3Uri)
    .option('--json', 'print history.jsonl as it is')
    .action(async (flags: { out: string; json?: boolean }) => {
      const rt = await openRuntime(configFrom(globals()), 'evals');
      try {
        const entries = await readHistory(rt.s3, parseS3Uri(flags.out));
        process.stdout.write(
          flags.json ? entries.map((e) => JSON.stringify(e)).join('\n') + '\n' : `${historyTable(entries)}\n`,
        );
      } finally {
        await rt.close();
      }
    });
}
