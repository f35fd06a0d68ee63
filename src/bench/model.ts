// ResNet50 forward throughput per backend, 2 WASM processes side by side, and head training speed.
// Each measurement runs in a child process so backends never share state. Last stdout line: JSON.
import * as tf from '@tensorflow/tfjs';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ensureBackbone } from '../model/backbone-fetch.js';
import { loadBackbone } from '../model/backbone.js';
import { selectBackend } from '../model/backend.js';
import { trainHead } from '../model/train/head-train.js';

interface ForwardResult {
  backend: string;
  batch: number;
  reps: number;
  seconds: number;
  imgPerSec: number;
  wasmSimd?: boolean;
  wasmThreads?: boolean;
}
interface ChildReq {
  kind: 'forward';
  backend: string;
  batch: number;
  reps: number;
  warmup: boolean;
}

async function forward(req: ChildReq): Promise<ForwardResult> {
  const info = await selectBackend(undefined, { TFJS_BACKEND: req.backend });
  const model = await loadBackbone(await ensureBackbone(), 'avg_pool');
  const x = tf.randomUniform([req.batch, 224, 224, 3], -120, 150);
  const once = async (): Promise<void> => {
    const y = model.predict(x) as tf.Tensor;
    await y.data();
    y.dispose();
  };
  if (req.warmup) await once();
  const t = process.hrtime.bigint();
  for (let i = 0; i < req.reps; i++) await once();
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  return {
    backend: info.name,
    batch: req.batch,
    reps: req.reps,
    seconds,
    imgPerSec: (req.batch * req.reps) / seconds,
    wasmSimd: info.wasmSimd,
    wasmThreads: info.wasmThreads,
  };
}

function runChild(req: ChildReq): Promise<ForwardResult> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--child'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    child.once('message', (m: { ok: boolean; result?: ForwardResult; error?: string }) =>
      m.ok ? resolve(m.result!) : reject(new Error(m.error)),
    );
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`bench child exited ${code}`));
    });
    child.send(req);
  });
}

function headBench(): { samples: number; epochs: number; seconds: number; samplesPerSec: number } {
  const n = 4096;
  const dim = 2048;
  const mk = (k: number) => ({
    x: Float32Array.from({ length: k * dim }, (_, i) => ((i * 2654435761) % 1000) / 100),
    y: Uint8Array.from({ length: k }, (_, i) => (i % 3 === 0 ? 0 : 1)),
    n: k,
    dim,
  });
  const r = trainHead(mk(n), mk(256), {
    optimizer: 'adam',
    lr: 1e-3,
    batchSize: 64,
    epochs: 3,
    lrSchedule: 'cosine',
    clipNorm: 0,
    weightDecay: 1e-4,
    dropout: 0.3,
    minEpochs: 0,
    patience: 99,
    classWeights: 'auto',
    seed: 1,
  });
  return { samples: n, epochs: r.epochsRun, seconds: r.seconds, samplesPerSec: r.samplesPerSec };
}

const fmt = (r: ForwardResult): string =>
  `${r.backend.padEnd(10)} batch ${String(r.batch).padStart(2)}: ${r.imgPerSec.toFixed(2)} img/s (${r.reps} x batch in ${r.seconds.toFixed(1)} s)`;

async function main(): Promise<void> {
  const forwardResults: ForwardResult[] = [];
  const unavailable: Record<string, string> = {};
  try {
    const r = await runChild({ kind: 'forward', backend: 'tensorflow', batch: 8, reps: 3, warmup: true });
    forwardResults.push(r);
    console.log(fmt(r));
  } catch (err) {
    unavailable.tensorflow = (err as Error).message.split(';')[0];
    console.log(`tensorflow: not available (${unavailable.tensorflow})`);
  }
  for (const [batch, reps] of [
    [1, 6],
    [8, 2],
    [32, 1],
  ] as const) {
    const r = await runChild({ kind: 'forward', backend: 'wasm', batch, reps, warmup: true });
    forwardResults.push(r);
    console.log(fmt(r));
  }
  const cpu = await runChild({ kind: 'forward', backend: 'cpu', batch: 1, reps: 1, warmup: false });
  forwardResults.push(cpu);
  console.log(`${fmt(cpu)} (no warm-up)`);
  const t = Date.now();
  const pair = await Promise.all(
    [0, 1].map(() => runChild({ kind: 'forward', backend: 'wasm', batch: 8, reps: 2, warmup: true })),
  );
  const pairImgPerSec = pair.reduce((s, r) => s + r.imgPerSec, 0);
  console.log(
    `wasm x2 processes batch 8: ${pairImgPerSec.toFixed(2)} img/s total (${pair.map((r) => r.imgPerSec.toFixed(2)).join(' + ')}; wall ${((Date.now() - t) / 1000).toFixed(1)} s incl. start-up)`,
  );
  await tf.setBackend('cpu');
  const head = headBench();
  console.log(`head training (cpu backend, 2048-d GAP features, batch 64): ${head.samplesPerSec.toFixed(0)} samples/s`);
  console.log(
    JSON.stringify({
      forward: forwardResults,
      wasmTwoProcesses: { batch: 8, perProcess: pair.map((r) => r.imgPerSec), totalImgPerSec: pairImgPerSec },
      headTraining: head,
      unavailable,
    }),
  );
}

if (process.argv.includes('--child')) {
  process.once('message', (req: ChildReq) => {
    forward(req).then(
      (result) => process.send!({ ok: true, result }, () => process.exit(0)),
      (err: unknown) => process.send!({ ok: false, error: (err as Error).message }, () => process.exit(0)),
    );
  });
} else {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
