// Suffix fine-tuning images/s on TF.js WASM: one process and K side by side, per batch size.
// Flags: --batches 8,16  --processes 1,2  --steps 6  --train-from conv5. Last stdout line: JSON.
import { parseArgs } from 'node:util';
import { TRAIN_FROM, type TrainFrom } from '../model/resnet50.js';
import { measureSuffixTrainingProcesses, type ProcessesResult } from './suffix-training.js';

const list = (s: string, flag: string): number[] =>
  s.split(',').map((v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag}: ${v} is not a positive integer`);
    return n;
  });

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      batches: { type: 'string', default: '8,16' },
      processes: { type: 'string', default: '1,2' },
      steps: { type: 'string', default: '6' },
      'train-from': { type: 'string', default: 'conv5' },
    },
  });
  const trainFrom = values['train-from'] as TrainFrom;
  if (!TRAIN_FROM.includes(trainFrom))
    throw new Error(`--train-from: ${trainFrom} is not one of ${TRAIN_FROM.join(', ')}`);
  const [steps] = list(values.steps, 'steps');
  const runs: ProcessesResult[] = [];
  const gib = (b: number | null): string => (b == null ? '-' : (b / 2 ** 30).toFixed(2));
  for (const batch of list(values.batches, 'batches')) {
    for (const processes of list(values.processes, 'processes')) {
      const r = await measureSuffixTrainingProcesses({ batch, steps, trainFrom, warmup: 1, processes });
      runs.push(r);
      const p = r.perProcess;
      console.log(
        `${trainFrom} suffix, batch ${String(batch).padStart(2)}, ${processes} process(es): ${r.imagesPerSec.toFixed(2)} img/s total` +
          ` (${p.map((x) => x.imagesPerCpuSec.toFixed(2)).join(' / ')} img per CPU-second)` +
          ` (median step ${p.map((x) => (x.stepMs / 1000).toFixed(2)).join(' / ')} s; wasm heap ${p.map((x) => gib(x.wasmHeapBytes)).join(' / ')} GiB;` +
          ` peak RSS ${p.map((x) => gib(x.peakRssBytes)).join(' / ')} GiB; tensors ${p.map((x) => x.tensors.join('->')).join(' / ')}, wasm data ids ${p.map((x) => x.dataIds.join('->')).join(' / ')})`,
      );
    }
  }
  console.log(
    JSON.stringify({
      trainFrom,
      backend: runs[0]?.perProcess[0]?.backend,
      params: runs[0]?.perProcess[0]?.params,
      runs: runs.map((r) => ({
        batch: r.perProcess[0].batch,
        processes: r.processes,
        imagesPerSec: r.imagesPerSec,
        stepMs: r.perProcess.map((p) => p.stepMs),
        imagesPerCpuSec: r.perProcess.map((p) => p.imagesPerCpuSec),
        wasmHeapBytes: Math.max(...r.perProcess.map((p) => p.wasmHeapBytes ?? 0)) || null,
        peakRssBytes: Math.max(...r.perProcess.map((p) => p.peakRssBytes)),
      })),
    }),
  );
}

main().catch((err: unknown) => {
  console.error((err as Error).message);
  process.exit(1);
});
