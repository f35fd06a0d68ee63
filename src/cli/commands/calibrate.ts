import { InvalidArgumentError, type Command } from 'commander';
import { calibrateModel } from '../../eval/run-calibration.js';
import { defaultModelDir } from '../../model/classifier.js';
import { groupByText, parseGroupBy } from '../../model/train/groups.js';
import { assertRunId } from '../../run/index.js';
import { parseS3Uri } from '../../shared/s3/uri.js';
import { loadLabelsFile } from '../labels-file.js';
import { positiveInt } from '../parse.js';
import { configFrom, openRuntime, type GlobalFlags } from '../runtime.js';

interface CalibrateFlags {
  model?: string;
  data: string;
  out: string;
  targetSensitivity: number;
  margin: number;
  runs?: string;
  runId?: string;
  labels?: string;
  groupBy: string;
  batchSize: number;
  version?: string;
  replicates: number;
}

const fraction =
  (flag: string) =>
  (v: string): number => {
    const n = Number(v);
    if (!(n > 0 && n < 1))
      throw new InvalidArgumentError(`${flag} must be a number in (0, 1), got ${JSON.stringify(v)}`);
    return n;
  };

/** `cxr models calibrate`: a new model version whose threshold meets a sensitivity target on a site's labelled sample. */
export function registerCalibrate(program: Command, globals: () => GlobalFlags): void {
  const models = program.commands.find((c) => c.name() === 'models') ?? program.command('models');
  models
    .command('calibrate')
    .description(
      'score a labelled sample with the pipeline (needs score workers running the model) and write a new version with the threshold for a target sensitivity',
    )
    .option(
      '--model <dir|s3://…>',
      'model folder, S3 prefix or promoted pointer (default: CXR_MODEL_URI or the shipped model)',
    )
    .requiredOption(
      '--data <s3uri>',
      'labelled sample, s3://BUCKET/PREFIX (NORMAL/ and PNEUMONIA/ folders, or --labels)',
    )
    .requiredOption('--out <dir|s3://…>', 'where the calibrated model folder is written')
    .option(
      '--target-sensitivity <x>',
      'sensitivity the threshold must reach on the sample',
      fraction('--target-sensitivity'),
      0.95,
    )
    .option(
      '--margin <x>',
      'sample-size rule: the exact 95% lower bound of the sensitivity must be >= target - margin',
      fraction('--margin'),
      0.05,
    )
    .option('--runs <s3uri>', 'where the scoring run writes (default s3://DATA_BUCKET/calibration-runs)')
    .option(
      '--run-id <id>',
      "scoring run id (default from the model id and the sample's keys and ETags: a retry reuses the run)",
    )
    .option('--labels <file>', 'labels file (local or s3://), CSV key,label[,group] or JSON lines')
    .option(
      '--group-by <auto|none|regex>',
      'patients for the bootstrap intervals (default: parsed from file names)',
      'auto',
    )
    .option('--batch-size <n>', 'images per scoring batch', positiveInt('--batch-size'), 16)
    .option('--replicates <n>', 'bootstrap replicates', positiveInt('--replicates'), 2000)
    .option('--version <v>', 'version of the new model (default: VERSION+cal.YYYYMMDD)')
    .action(async (flags: CalibrateFlags) => {
      const data = parseS3Uri(flags.data);
      const groupBy = groupByText(parseGroupBy(flags.groupBy));
      const rt = await openRuntime(configFrom(globals()), 'calibrate');
      try {
        const labels = flags.labels ? await loadLabelsFile(rt.s3, flags.labels) : undefined;
        const r = await calibrateModel(rt, {
          model: flags.model ?? (process.env.CXR_MODEL_URI || defaultModelDir()),
          data,
          out: flags.out,
          runsOut: flags.runs ? parseS3Uri(flags.runs) : { bucket: data.bucket, prefix: 'calibration-runs' },
          targetSensitivity: flags.targetSensitivity,
          margin: flags.margin,
          batchSize: flags.batchSize,
          labels: labels ? { byKey: labels.labels, groups: labels.groups, from: labels.from } : undefined,
          groupBy,
          version: flags.version,
          runId: flags.runId ? assertRunId(flags.runId) : undefined,
          bootstrap: { replicates: flags.replicates },
        });
        process.stdout.write(`${JSON.stringify(r)}\n`);
      } finally {
        await rt.close();
      }
    });
}
