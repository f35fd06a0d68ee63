// Suffix fine-tuning speed on the TF.js WASM backend: the trainable stages + GAP + Dense(1) on random cached-
// activation-shaped inputs, class-weighted BCE, Adam, BatchNorm statistics frozen. In-process or K processes.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { selectBackend } from '../model/backend.js';
import { buildResNet50, PREFIX_TOP, STAGE_OUTPUT, type TrainFrom } from '../model/resnet50.js';
import { weightedBce } from '../model/train/head-step.js';
import { registerWasmTrainingKernels } from '../model/wasm-kernels/index.js';
import { repoRoot } from '../shared/paths.js';

export interface SuffixTrainingOptions {
  batch: number;
  /** Timed steps, after `warmup` untimed ones. */
  steps: number;
  trainFrom: TrainFrom;
  warmup?: number;
}

export interface SuffixTrainingResult {
  backend: string;
  batch: number;
  trainFrom: TrainFrom;
  steps: number;
  seconds: number;
  imagesPerSec: number;
  /** Median step time, ms. */
  stepMs: number;
  /** CPU time this process used over the timed steps (on a shared machine, wall time includes waiting). */
  cpuSeconds: number;
  imagesPerCpuSec: number;
  params: number;
  /** WASM linear memory after the run (it never shrinks: the peak), bytes; null off wasm. */
  wasmHeapBytes: number | null;
  peakRssBytes: number;
  /** Tensors and backend data ids after the first timed step and after the last: equal when nothing leaks. */
  tensors: [number, number];
  dataIds: [number, number];
}

/** The trainable part of a fine-tune from `trainFrom`: ResNet50 after the frozen prefix, GAP, Dense(1) logits. */
export function buildSuffixClassifier(trainFrom: TrainFrom): tf.LayersModel {
  const from = PREFIX_TOP[trainFrom] ?? undefined;
  const base = buildResNet50({ from, top: 'avg_pool' });
  const logit = tf.layers.dense({ units: 1, name: 'logit' }).apply(base.outputs[0]) as tf.SymbolicTensor;
  return tf.model({ inputs: base.inputs, outputs: logit, name: `suffix_${trainFrom}` });
}

export function suffixInputShape(trainFrom: TrainFrom): [number, number, number] {
  const from = PREFIX_TOP[trainFrom];
  return from ? STAGE_OUTPUT[from] : [224, 224, 3];
}

/** Selects the wasm backend (unless TFJS_BACKEND says otherwise) with the training kernels registered. */
export async function selectTrainingBackend(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const info = await selectBackend(undefined, { ...env, TFJS_BACKEND: env.TFJS_BACKEND ?? 'wasm' });
  if (info.name === 'wasm') registerWasmTrainingKernels();
  return info.name;
}

function wasmHeapBytes(): number | null {
  return tf.getBackend() === 'wasm' ? (tf.backend() as unknown as BackendWasm).wasm.HEAPU8.byteLength : null;
}

function numDataIds(): number {
  return (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
}

/** Builds the model and its training step; `ready` (if given) runs after warm-up, before the timed steps. */
export async function measureSuffixTraining(
  opts: SuffixTrainingOptions,
  ready?: () => Promise<void>,
): Promise<SuffixTrainingResult> {
  const backend = await selectTrainingBackend();
  const model = buildSuffixClassifier(opts.trainFrom);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const opt = tf.train.adam(1e-4);
  const shape = suffixInputShape(opts.trainFrom);
  // A few rotating batches of non-negative (post-ReLU-like) inputs with mixed labels.
  const batches = [0, 1, 2].map((i) => ({
    x: tf.randomUniform([opts.batch, ...shape], 0, 2, 'float32', i + 1),
    y: tf.tensor2d(
      Array.from({ length: opts.batch }, (_, j) => ((i + j) % 3 === 0 ? 0 : 1)),
      [opts.batch, 1],
    ),
  }));
  const classWeight = [1.9, 0.67];
  const sw = batches.map((b) => tf.tidy(() => tf.add(tf.mul(b.y, classWeight[1] - classWeight[0]), classWeight[0])));
  const step = async (i: number): Promise<void> => {
    const k = i % batches.length;
    const loss = opt.minimize(
      () => weightedBce(model.apply(batches[k].x, { training: false }) as tf.Tensor, batches[k].y, sw[k]),
      true,
      vars,
    );
    await loss!.data();
    loss!.dispose();
  };
  for (let i = 0; i < (opts.warmup ?? 1); i++) await step(i);
  if (ready) await ready();
  const times: number[] = [];
  const tensors: [number, number] = [0, 0];
  const dataIds: [number, number] = [0, 0];
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < opts.steps; i++) {
    const s = performance.now();
    await step(i);
    times.push(performance.now() - s);
    if (i === 0) {
      tensors[0] = tf.memory().numTensors;
      dataIds[0] = numDataIds();
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  tensors[1] = tf.memory().numTensors;
  dataIds[1] = numDataIds();
  const result: SuffixTrainingResult = {
    backend,
    batch: opts.batch,
    trainFrom: opts.trainFrom,
    steps: opts.steps,
    seconds,
    imagesPerSec: (opts.batch * opts.steps) / seconds,
    stepMs: times.sort((a, b) => a - b)[Math.floor(times.length / 2)],
    cpuSeconds,
    imagesPerCpuSec: (opts.batch * opts.steps) / cpuSeconds,
    params: model.countParams(),
    wasmHeapBytes: wasmHeapBytes(),
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    tensors,
    dataIds,
  };
  opt.dispose();
  model.dispose();
  for (const b of batches) tf.dispose([b.x, b.y]);
  tf.dispose(sw);
  return result;
}

export interface ProcessesResult {
  processes: number;
  /** Images of all processes over the wall time from their common start until the last one finished. */
  imagesPerSec: number;
  perProcess: SuffixTrainingResult[];
}

/**
 * Runs measureSuffixTraining in `processes` child processes that warm up, wait for each other, and then
 * train side by side.
 */
export async function measureSuffixTrainingProcesses(
  opts: SuffixTrainingOptions & { processes: number },
): Promise<ProcessesResult> {
  const script = path.join(repoRoot(), 'dist', 'bench', 'suffix-training-child.js');
  const children = Array.from({ length: opts.processes }, () => {
    const child = spawn(process.execPath, [script, JSON.stringify(opts)], { stdio: ['pipe', 'pipe', 'inherit'] });
    let buf = '';
    let onReady!: () => void;
    const ready = new Promise<void>((r) => (onReady = r));
    const result = new Promise<SuffixTrainingResult>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line === 'ready') onReady();
          else if (line.startsWith('{')) resolve(JSON.parse(line) as SuffixTrainingResult);
        }
      });
      child.once('exit', (code) => reject(new Error(`suffix-training child exited ${code} before reporting`)));
    });
    return { child, ready, result };
  });
  await Promise.all(children.map((c) => Promise.race([c.ready, c.result])));
  const t0 = performance.now();
  for (const c of children) c.child.stdin.end('go\n');
  const perProcess = await Promise.all(children.map((c) => c.result));
  const seconds = (performance.now() - t0) / 1000;
  return {
    processes: opts.processes,
    imagesPerSec: perProcess.reduce((s, r) => s + r.batch * r.steps, 0) / seconds,
    perProcess,
  };
}
