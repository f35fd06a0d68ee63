// Child process of the pipeline benchmark: model images/s on tensors already in memory.
import { loadClassifier } from '../model/classifier.js';
import { caffePreprocess } from '../model/preprocess.js';

const batchSize = Number(process.argv[2] ?? 16);
const batches = Number(process.argv[3] ?? 4);

const classifier = await loadClassifier();
const size = classifier.info.inputSize ** 2 * 3;
const input = new Float32Array(batchSize * size);
const rgb = new Uint8Array(size).map((_, i) => (i * 31) % 256);
for (let i = 0; i < batchSize; i++) caffePreprocess(rgb, input, i * size);
await classifier.predict(input, batchSize); // warm-up
const t0 = performance.now();
for (let i = 0; i < batches; i++) await classifier.predict(input, batchSize);
const seconds = (performance.now() - t0) / 1000;
process.stdout.write(JSON.stringify({ backend: classifier.backend, images: batchSize * batches, seconds }) + '\n');
classifier.dispose();
