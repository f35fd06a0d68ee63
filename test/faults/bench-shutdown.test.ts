import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cmdlineOf, descendantPids } from '../../src/bench/cpu-time.js';
import { repoRoot } from '../../src/shared/paths.js';
import { alive, handlesPreload, openAtExit, plainLines, startNode, waitFor } from './harness.js';

const BENCH = path.join(repoRoot(), 'dist', 'bench', 'pipeline.js');

/** The smallest bench: one engine and mode, one slot, a warm-up batch and a measured batch of 16, few keys listed and enqueued. */
const SMALL = [
  '--engines',
  'onnx-int8',
  '--images',
  '32',
  '--min-seconds',
  '1',
  '--concurrency',
  '1',
  '--inference',
  'slot',
  '--list-keys',
  '10',
  '--enqueue-keys',
  '100',
];

/**
 * The bench on its own redis-server and S3 server (none named in the environment), printing what it leaves open
 * at exit. One that has not ended after `limitMs` is SIGKILLed (its descendants too), so a bench held open
 * fails its case (exit code null) instead of the suite's time-out.
 */
function startBench(limitMs = 360_000) {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_NO_WARNINGS: '1', ...handlesPreload };
  delete env.REDIS_URL;
  delete env.S3_ENDPOINT;
  const bench = startNode(BENCH, SMALL, env);
  let stderr = '';
  bench.child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const watchdog = setTimeout(() => {
    for (const pid of [...descendantPids(bench.child.pid!), bench.child.pid!])
      if (alive(pid)) process.kill(pid, 'SIGKILL');
  }, limitMs);
  void bench.result.finally(() => clearTimeout(watchdog));
  return { ...bench, stderr: () => stderr };
}

const benchLines = (stderr: string) => plainLines(stderr).filter((l) => l.startsWith('bench: '));

/**
 * Issue 24 item 1, the bench: `npm run bench` ends, and says why, when its Redis dies mid-measure. Its Redis is
 * a redis-server it started itself, so the case kills that one (found among the bench's descendants). The first
 * run builds the INT8 model once (models/.cache), hence the long wait for the measuring line.
 */
describe('bench shutdown: npm run bench ends, and says why, when its Redis is lost', () => {
  it('its redis-server SIGKILLed while it measures -> exit 1 within 30 s, one line, no figures, no handle or child left', async () => {
    const bench = startBench();
    await waitFor(
      'the bench measuring',
      async () => {
        if (bench.child.exitCode !== null) throw new Error(`the bench exited early:\n${bench.stderr()}`);
        return /: pipeline, one run of \d+ images \(\d+ cop(y|ies) of \d+\), measuring/.test(bench.stderr())
          ? true
          : undefined;
      },
      300_000,
      50,
    );
    const children = descendantPids(bench.child.pid!);
    const redis = children.filter((p) => /redis-server/.test(cmdlineOf(p)));
    expect(redis, 'the bench runs one redis-server').toHaveLength(1);
    // redis-server names its address in its process title ("redis-server 127.0.0.1:PORT"); its arguments say --port PORT.
    const port = /(?:127\.0\.0\.1:|--port )(\d+)/.exec(cmdlineOf(redis[0]))?.[1];
    expect(port).toBeDefined();
    process.kill(redis[0], 'SIGKILL');
    const killedAt = Date.now();
    const r = await bench.result;
    const ms = Date.now() - killedAt;
    process.stderr.write(
      `bench, Redis killed while measuring: exit ${r.code} ${(ms / 1000).toFixed(1)} s after; ${benchLines(r.stderr).join(' | ')}\n`,
    );
    expect(r.code, r.stderr).toBe(1);
    const line = `bench: lost Redis at 127.0.0.1:${port} while measuring onnx-int8-slot; no figures`;
    expect(benchLines(r.stderr)).toEqual([line]);
    expect(plainLines(r.stderr).at(-1)).toBe(line);
    expect(r.stdout).toBe(''); // no figures
    expect(ms).toBeLessThan(30_000); // lost for 3 s, the workers' forced close 2 s, the queue's close 2 s, the S3 server's stop
    expect(openAtExit(r.stderr)).toEqual([]);
    await waitFor('its children gone', async () => (children.some(alive) ? undefined : true), 5000, 100);
  }, 420_000);

  it('with nothing going wrong it prints its figures and exits 0 by itself, leaving no handle open', async () => {
    const r = await startBench().result;
    expect(r.code, r.stderr).toBe(0);
    const figures = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { engines: object; listKeys: number };
    expect(Object.keys(figures.engines)).toEqual(['onnx-int8']);
    expect(figures.listKeys).toBe(10);
    expect(benchLines(r.stderr)).toEqual([]);
    expect(openAtExit(r.stderr)).toEqual([]);
    process.stderr.write(`bench, nothing wrong: exit ${r.code} after ${(r.ms / 1000).toFixed(1)} s\n`);
  }, 420_000);
});
