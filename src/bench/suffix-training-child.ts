// Child of measureSuffixTrainingProcesses. argv[2]: SuffixTrainingOptions as JSON. Prints 'ready' after
// warm-up, waits for a line on stdin, trains, prints the result as one JSON line.
import { measureSuffixTraining, type SuffixTrainingOptions } from './suffix-training.js';

const opts = JSON.parse(process.argv[2] ?? '{}') as SuffixTrainingOptions;
const result = await measureSuffixTraining(opts, async () => {
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
});
process.stdout.write(JSON.stringify(result) + '\n');
