import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { putObject } from '../../src/shared/s3/objects.js';
import { freeLoopbackPort } from '../../src/shared/services/free-port.js';
import { WorkerProc, cli, faultSuite, imagePool, plainLines, putImages, waitFor } from '../faults/harness.js';

/** Prometheus text: sample lines as "name{labels}" -> value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*(?:\{.*\})?) (\S+)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    out.set(m[1].replace(/, /g, ','), Number(m[2]));
  }
  return out;
}

/** The value of the one sample of `name` whose labels include all of `labels`. */
function value(s: Map<string, number>, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const hits = [...s].filter(([k]) => (k === name || k.startsWith(`${name}{`)) && want.every((w) => k.includes(w)));
  if (hits.length > 1) throw new Error(`${hits.length} samples of ${name} match ${want.join(',')}`);
  return hits[0]?.[1];
}

describe('cxr worker --http-port: /healthz, /readyz, /metrics', () => {
  const prefix = `h${randomUUID().slice(0, 6)}`;
  const suite = faultSuite(prefix);

  it('answers health, readiness and metrics of a finished run; /readyz goes unready while Redis is down; SIGTERM then exits at once', async () => {
    const port = await freeLoopbackPort();
    const url = (p: string) => fetch(`http://127.0.0.1:${port}${p}`);
    const { stack, bucket } = suite;
    await putImages(stack.s3, bucket, 'in/', 10);
    const jpeg = imagePool()[0];
    await putObject(
      stack.s3,
      bucket,
      'in/bad-corrupt.jpeg',
      jpeg.subarray(0, Math.floor(jpeg.length / 3)),
      'image/jpeg',
    );
    await putObject(stack.s3, bucket, 'in/bad-empty.jpeg', new Uint8Array(0), 'image/jpeg');

    const env = stack.env(prefix, { CXR_ENGINE: 'null', CXR_HTTP_PORT: String(port) });
    const w = await new WorkerProc(['--concurrency', '2'], env).ready();
    expect((await url('/healthz')).status).toBe(200);
    const ready = await url('/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, redis: true, model: 'loaded', draining: false });
    expect((await url('/nope')).status).toBe(404);

    const run = await cli(
      [
        'score',
        `s3://${bucket}/in/`,
        '--out',
        `s3://${bucket}/out`,
        '--batch-size',
        '4',
        '--run-id',
        'http-run',
        '--wait',
      ],
      env,
    );
    expect(run.code, run.stderr).toBe(5); // done with more failures than --max-failures allows: the corrupt and the empty image
    const res = await url('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const s = samples(text);
    expect(value(s, 'cxr_images_scored_total')).toBe(10);
    expect(value(s, 'cxr_images_failed_total', { stage: 'decode', reason: 'corrupt' })).toBe(1);
    expect(value(s, 'cxr_images_failed_total', { stage: 'decode', reason: 'empty' })).toBe(1);
    // 12 images in batches of 4: three batches, each observed once per stage.
    for (const stage of ['download', 'decode', 'inference', 'upload'])
      expect(value(s, 'cxr_batch_stage_duration_seconds_count', { stage })).toBe(3);
    expect(value(s, 'cxr_batches_total', { job: 'batch', outcome: 'completed' })).toBe(3);
    expect(value(s, 'cxr_model_info', { engine: 'null', backend: 'null' })).toBe(1);
    expect(value(s, 'cxr_worker_sandboxes')).toBe(2);
    expect(value(s, 'cxr_worker_busy_sandboxes')).toBe(0);
    expect(value(s, 'cxr_redis_up')).toBe(1);
    // BullMQ's own export of the score queue, labelled with the prefix.
    expect(value(s, 'bullmq_job_count', { queue: 'score', state: 'completed', prefix })).toBeGreaterThanOrEqual(4); // 3 batches + finalize
    expect(value(s, 'bullmq_job_count', { queue: 'score', state: 'waiting', prefix })).toBe(0);
    expect(text.match(/^# HELP bullmq_job_count /gm)).toHaveLength(1);

    await stack.stopRedis();
    const unready = await waitFor(
      '/readyz to answer 503',
      async () => {
        const r = await url('/readyz');
        return r.status === 503 ? ((await r.json()) as Record<string, unknown>) : undefined;
      },
      15_000,
      250,
    );
    expect(unready).toMatchObject({ ready: false, redis: false });
    expect((await url('/healthz')).status).toBe(200);
    const down = samples(await (await url('/metrics')).text());
    expect(value(down, 'cxr_redis_up')).toBe(0);
    expect(value(down, 'bullmq_job_count', { state: 'waiting' })).toBeUndefined();

    await stack.startRedis();
    await waitFor(
      '/readyz to answer 200 again',
      async () => ((await url('/readyz')).status === 200 ? true : undefined),
      20_000,
      250,
    );

    // Redis gone again: SIGTERM must still end the worker at once (nothing could be recorded anyway).
    await stack.stopRedis();
    await waitFor(
      '/readyz to answer 503',
      async () => ((await url('/readyz')).status === 503 ? true : undefined),
      15_000,
      250,
    );
    const termAt = Date.now();
    w.signal('SIGTERM');
    const exit = await w.exited;
    expect(exit.code).toBe(0);
    expect(exit.at - termAt).toBeLessThan(5000);
    await stack.startRedis();
  });

  it('bad --http-port / CXR_HTTP_PORT: one line naming it, exit 2; a port in use: one line, exit 1', async () => {
    const env = suite.stack.env(prefix, { CXR_ENGINE: 'null' });
    const flag = await cli(['worker', '--http-port', '70000'], env);
    expect(flag.code).toBe(2);
    expect(plainLines(flag.stderr)).toEqual([
      `cxr: option '--http-port <port>' argument '70000' is invalid. --http-port must be a TCP port (1-65535), got "70000"`,
    ]);
    const fromEnv = await cli(['worker'], { ...env, CXR_HTTP_PORT: 'abc' });
    expect(fromEnv.code).toBe(2);
    expect(plainLines(fromEnv.stderr)).toEqual(['cxr: CXR_HTTP_PORT must be a TCP port (1-65535), got "abc"']);
    const port = await freeLoopbackPort();
    const holder = await new WorkerProc(['--http-port', String(port), '--http-host', '127.0.0.1'], env).ready();
    const taken = await cli(['worker', '--http-port', String(port), '--http-host', '127.0.0.1'], env);
    expect(taken.code).toBe(1);
    expect(plainLines(taken.stderr)).toEqual([
      `cxr: cannot serve --http-port ${port} on 127.0.0.1: the port is in use`,
    ]);
    holder.signal('SIGTERM');
    expect((await holder.exited).code).toBe(0);
  });
});
