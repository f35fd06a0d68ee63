// Runs raw-model.js in several processes that start measuring at the same moment.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from '../shared/paths.js';

interface RawChildResult {
  backend: string;
  images: number;
  seconds: number;
  cpuSeconds: number;
}

function lines(child: ChildProcess, onLine: (l: string) => void): void {
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
}

/**
 * Starts `processes` raw-model children (each loads and warms up, then waits), releases them together and
 * returns images/s over the wall time from the release until the last one finishes.
 */
export async function rawImagesPerSec(opts: {
  engine: string;
  processes: number;
  batchSize: number;
  batches: number;
  minSeconds?: number;
  env: NodeJS.ProcessEnv;
}): Promise<{ backend: string; images: number; imagesPerSec: number; seconds: number; cpuMsPerImage: number }> {
  const script = path.join(repoRoot(), 'dist', 'bench', 'raw-model.js');
  const children = Array.from({ length: opts.processes }, () => {
    const child = spawn(
      process.execPath,
      [
        script,
        String(opts.batchSize),
        String(opts.batches),
        opts.engine,
        '--sync',
        '--min-seconds',
        String(opts.minSeconds ?? 0),
      ],
      { env: opts.env, stdio: ['pipe', 'pipe', 'inherit'] },
    );
    let ready!: () => void;
    let result!: (r: RawChildResult) => void;
    const readyP = new Promise<void>((r) => (ready = r));
    const resultP = new Promise<RawChildResult>((resolve, reject) => {
      result = resolve;
      child.once('exit', (code) => reject(new Error(`raw-model child exited ${code} before reporting`)));
    });
    lines(child, (l) =>
      l === 'ready' ? ready() : l.startsWith('{') ? result(JSON.parse(l) as RawChildResult) : undefined,
    );
    return { child, readyP, resultP };
  });
  await Promise.all(children.map((c) => c.readyP));
  const t0 = performance.now();
  for (const c of children) c.child.stdin!.end('go\n');
  const results = await Promise.all(children.map((c) => c.resultP));
  const seconds = (performance.now() - t0) / 1000;
  const images = results.reduce((s, r) => s + r.images, 0);
  return {
    backend: results[0].backend,
    images,
    imagesPerSec: images / seconds,
    seconds,
    cpuMsPerImage: (results.reduce((s, r) => s + r.cpuSeconds, 0) * 1000) / images,
  };
}
