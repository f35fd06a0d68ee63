// Child process of the pipeline benchmark: model images/s on tensors already in memory.
// argv: batchSize batches [engine: tfjs|onnx|onnx-int8|auto] [--sync] [--min-seconds S]; ONNX threads follow
// CXR_WORKER_CONCURRENCY like a worker's. It runs at least `batches` batches and at least S seconds, and
// reports the CPU time of the loop (all of this process's threads) beside the wall time.
import { loadEngine, parseEngine } from '../model/engine.js';
import { caffePreprocess } from '../model/preprocess.js';

const batchSize = Number(process.argv[2] ?? 16);
const batches = Number(process.argv[3] ?? 4);
const engine = parseEngine(process.argv[4] ?? 'tfjs');
const minAt = process.argv.indexOf('--min-seconds');
const minSeconds = minAt > 0 ? Number(process.argv[minAt + 1]) : 0;

const classifier = await loadEngine({ engine });
const size = classifier.info.inputSize ** 2 * 3;
const input = new Float32Array(batchSize * size);
const rgb = new Uint8Array(size).map((_, i) => (i * 31) % 256);
for (let i = 0; i < batchSize; i++) caffePreprocess(rgb, input, i * size);
await classifier.predict(input, batchSize); // warm-up
if (process.argv.includes('--sync')) {
  // Tell the parent we are loaded, then wait for its go so that all processes measure together.
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
}
const cpu0 = process.cpuUsage();
const t0 = performance.now();
let done = 0;
while (done < batches || performance.now() - t0 < minSeconds * 1000) {
  await classifier.predict(input, batchSize);
  done++;
}
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
process.stdout.write(
  JSON.stringify({
    engine,
    backend: classifier.backend,
    images: batchSize * done,
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  }) + '\n',
);
classifier.dispose();
