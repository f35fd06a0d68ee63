// Child process of the pipeline benchmark: model images/s on tensors already in memory.
// argv: batchSize batches [engine: tfjs|onnx|auto] [--sync]; ONNX threads follow CXR_WORKER_CONCURRENCY like a worker's.
import { loadEngine, parseEngine } from '../model/engine.js';
import { caffePreprocess } from '../model/preprocess.js';

const batchSize = Number(process.argv[2] ?? 16);
const batches = Number(process.argv[3] ?? 4);
const engine = parseEngine(process.argv[4] ?? 'tfjs');

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
const t0 = performance.now();
for (let i = 0; i < batches; i++) await classifier.predict(input, batchSize);
const seconds = (performance.now() - t0) / 1000;
process.stdout.write(JSON.stringify({ engine, backend: classifier.backend, images: batchSize * batches, seconds }) + '\n');
classifier.dispose();
