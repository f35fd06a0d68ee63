import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Redis } from 'ioredis';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  IDENTIFYING,
  makeDicomFixtures,
  type DicomFixture,
  type FailingFixture,
} from '../../src/bench/dicom-fixtures.js';
import type { Config } from '../../src/shared/config.js';
import { RunStore } from '../../src/run/run-store.js';
import { getObjectBytes, getTextIfExists, listObjects, putObject } from '../../src/shared/s3/objects.js';
import type { FailureLine, PredictionLine } from '../../src/run/types.js';
import type { RunMetrics } from '../../src/run/run-metrics.js';
import { CLI, execCli, runCli, stopProcess, waitFor } from '../helpers/cli.js';
import { heldOutFiles } from '../helpers/dataset.js';
import { repoRoot } from '../../src/shared/paths.js';
import { childEnv, freshBucket, testConfig, testRedis, testS3 } from '../helpers/services.js';

// One run over a prefix that mixes JPEG, PNG and every DICOM variant (written by dcmjs from the same
// shared X-ray), plus objects that must fail alone; then the same prefix with --skip-flagged.

// A NORMAL film of a held-out patient (no in-training-set flag): its probability is far from saturated, so a
// changed input would show.
const source = heldOutFiles('NORMAL', 1, 3)[0];
const jsonl = <T>(text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);

describe('a DICOM + JPEG + PNG prefix end to end (onnx engine, one worker)', () => {
  let config: Config;
  let s3: S3Client;
  let redis: Redis;
  let store: RunStore;
  let bucket: string;
  let env: NodeJS.ProcessEnv;
  let worker: ChildProcess;
  let logs = '';
  let fixtures: DicomFixture[];
  let failing: FailingFixture[];
  const keyOf = (f: { name: string; file: string }) => `in/NORMAL/dicom/${f.name}${f.file}`;
  const other = new Map<string, RegExp | 'ood'>();

  const read = async (run: string, name: string) => (await getTextIfExists(s3, bucket, `out/${run}/${name}`)) ?? '';
  const finished = (run: string) =>
    waitFor(`run ${run}`, async () => ((await store.get(run))?.status.startsWith('done') ? true : undefined), 600_000);

  beforeAll(async () => {
    config = testConfig();
    env = { ...childEnv(config), CXR_ENGINE: 'onnx' };
    s3 = testS3(config);
    redis = testRedis(config);
    store = new RunStore(redis, config.queuePrefix);
    bucket = await freshBucket(s3);
    const jpeg = readFileSync(source);
    ({ fixtures, failing } = await makeDicomFixtures(jpeg));
    await putObject(s3, bucket, 'in/NORMAL/source.jpeg', jpeg, 'image/jpeg');
    await putObject(s3, bucket, 'in/NORMAL/source.png', await sharp(jpeg).png().toBuffer(), 'image/png');
    for (const f of [...fixtures, ...failing]) await putObject(s3, bucket, keyOf(f), f.bytes, 'application/dicom');
    await putObject(
      s3,
      bucket,
      'in/NORMAL/tiny.png',
      await sharp({ create: { width: 1, height: 1, channels: 3, background: '#888' } })
        .png()
        .toBuffer(),
      'image/png',
    );
    await putObject(
      s3,
      bucket,
      'in/NORMAL/flat.png',
      await sharp({ create: { width: 400, height: 400, channels: 3, background: '#777' } })
        .png()
        .toBuffer(),
      'image/png',
    );
    await putObject(
      s3,
      bucket,
      'in/NORMAL/chelsea.png',
      readFileSync(path.join(repoRoot(), 'test', 'fixtures', 'chelsea.png')),
      'image/png',
    );
    other
      .set('in/NORMAL/tiny.png', /not a usable radiograph: 1×1 px/)
      .set('in/NORMAL/flat.png', /not a usable radiograph: near-constant/)
      .set('in/NORMAL/chelsea.png', 'ood');
    // At info level the worker says when it has started (and its logs, checked for identifying data below, say more).
    worker = spawn(process.execPath, [CLI, 'worker', '--concurrency', '1'], {
      env: { ...env, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    worker.stdout!.on('data', (d: Buffer) => (logs += d));
    worker.stderr!.on('data', (d: Buffer) => (logs += d));
    // The run's --wait counts a worker that is still loading its model as none: start scoring once it is up.
    await waitFor('the worker to start', async () => (/"msg":"worker started"/.test(logs) ? true : undefined), 360_000);
  }, 420_000);

  afterAll(async () => {
    if (worker) await stopProcess(worker);
    redis?.disconnect();
    s3?.destroy();
  });

  it('scores every DICOM variant like its source JPEG, flags what it should, fails the rest alone', async () => {
    // --wait exits 2: the run has failures (the objects meant to fail).
    const cli = await execCli(
      [
        'score',
        `s3://${bucket}/in/`,
        '--out',
        `s3://${bucket}/out`,
        '--batch-size',
        '8',
        '--run-id',
        'dcm-1',
        '--wait',
      ],
      env,
    );
    logs += cli.stdout + cli.stderr;
    expect(cli.code, cli.stderr).toBe(5); // done with more failures than --max-failures 0 allows
    await finished('dcm-1');
    const predictions = jsonl<PredictionLine>(await read('dcm-1', 'predictions.jsonl'));
    const failures = jsonl<FailureLine>(await read('dcm-1', 'failures.jsonl'));
    const keys = [...predictions, ...failures].map((l) => l.key).sort();
    const expected = [
      'in/NORMAL/source.jpeg',
      'in/NORMAL/source.png',
      ...[...fixtures, ...failing].map(keyOf),
      ...other.keys(),
    ].sort();
    expect(keys).toEqual(expected); // each key exactly once

    const byKey = new Map(predictions.map((p) => [p.key, p]));
    const ref = byKey.get('in/NORMAL/source.jpeg')!;
    expect(ref.uids).toBeUndefined();
    expect(ref.ood).toBeTypeOf('number');
    expect(ref.flags ?? []).toEqual([]);
    const rows: string[] = [];
    for (const f of fixtures) {
      const p = byKey.get(keyOf(f));
      expect(p, f.name).toBeDefined();
      rows.push(
        `${f.name.padEnd(28)} p=${p!.probability.toFixed(6)} (source ${ref.probability.toFixed(6)}) ood=${p!.ood} (source ${ref.ood})`,
      );
      expect(p!.label, f.name).toBe(ref.label);
      // The same pixels give the same probability; lossy syntaxes move it a little.
      expect(Math.abs(p!.probability - ref.probability), f.name).toBeLessThanOrEqual(f.tolerance === 0 ? 1e-5 : 0.02);
      // The OOD distance sees the same pooled features: equal for lossless syntaxes, near for lossy ones.
      expect(Math.abs(p!.ood! - ref.ood!), f.name).toBeLessThanOrEqual(f.tolerance === 0 ? 0.01 : ref.ood! * 0.15);
      expect(p!.uids, f.name).toEqual(f.uids);
      expect(p!.flags ?? [], f.name).toEqual(f.flags);
      expect(p!.frames, f.name).toBe(f.frames > 1 ? f.frames : undefined);
    }
    console.log(`source JPEG p=${ref.probability} ood=${ref.ood}\n${rows.join('\n')}`);
    expect(byKey.get('in/NORMAL/source.png')!.probability).toBeCloseTo(ref.probability, 5);
    for (const f of failing) expect(failures.find((x) => x.key === keyOf(f))?.reason, f.name).toMatch(f.reason);
    expect(failures.find((x) => x.key === 'in/NORMAL/tiny.png')?.reason).toMatch(
      other.get('in/NORMAL/tiny.png') as RegExp,
    );
    expect(failures.find((x) => x.key === 'in/NORMAL/flat.png')?.reason).toMatch(
      other.get('in/NORMAL/flat.png') as RegExp,
    );
    const chelsea = byKey.get('in/NORMAL/chelsea.png')!;
    expect(chelsea.flags).toEqual(['out of distribution']);
    expect(chelsea.ood!).toBeGreaterThan(ref.ood! * 2);

    const metrics = JSON.parse(await read('dcm-1', 'metrics.json')) as RunMetrics;
    expect(metrics.counts).toMatchObject({
      total: expected.length,
      scored: predictions.length,
      failed: failures.length,
      skipped: 0,
    });
    expect(metrics.flags).toMatchObject({
      flagged: 3,
      outOfDistribution: 1,
      withOodScore: predictions.length,
      failedAsFlagged: 0,
    });
    expect(metrics.flags!.byFlag).toEqual({
      'lateral view': 1,
      'body part SKULL (not CHEST)': 1,
      'modality CT (not CR/DX)': 1,
      'out of distribution': 1,
    });
  }, 600_000);

  it('--skip-flagged turns each flag into a named failure', async () => {
    await runCli(
      [
        'score',
        `s3://${bucket}/in/`,
        '--out',
        `s3://${bucket}/out`,
        '--batch-size',
        '8',
        '--run-id',
        'dcm-2',
        '--skip-flagged',
      ],
      env,
    );
    await finished('dcm-2');
    const failures = jsonl<FailureLine>(await read('dcm-2', 'failures.jsonl'));
    const flagged = failures
      .filter((f) => f.stage === 'flagged')
      .map((f) => [f.key, f.reason])
      .sort();
    expect(flagged).toEqual(
      [
        [keyOf(fixtures.find((f) => f.name === 'lateral')!), 'flagged (--skip-flagged): lateral view'],
        [
          keyOf(fixtures.find((f) => f.name === 'skull-ct')!),
          'flagged (--skip-flagged): body part SKULL (not CHEST), modality CT (not CR/DX)',
        ],
        ['in/NORMAL/chelsea.png', 'flagged (--skip-flagged): out of distribution'],
      ].sort(),
    );
    const predictions = jsonl<PredictionLine>(await read('dcm-2', 'predictions.jsonl'));
    expect(predictions.every((p) => !p.flags)).toBe(true);
  }, 600_000);

  it('no identifying attribute appears in any output, report or log of the runs', async () => {
    // The report is written after finalize (the keys carry labels); wait for it.
    await waitFor(
      'the run report',
      async () => ((await getTextIfExists(s3, bucket, 'out/dcm-1/report/index.html')) ? true : undefined),
      300_000,
    );
    const objects = await listObjects(s3, bucket, 'out/');
    expect(objects.length).toBeGreaterThan(8);
    const texts: [string, string][] = [['worker and CLI logs', logs]];
    for (const o of objects)
      texts.push([o.key, Buffer.from((await getObjectBytes(s3, bucket, o.key)).bytes).toString('latin1')]);
    const status = await execCli(['status', 'dcm-1'], env);
    texts.push(['cxr status', status.stdout + status.stderr]);
    const needles = [...Object.values(IDENTIFYING), 'Quixote', 'Dulcinea', 'Marlowe', '88317', '55120', '1947-08-13'];
    const leaks = texts.flatMap(([where, text]) =>
      needles.filter((n) => text.includes(n)).map((n) => `${n} in ${where}`),
    );
    expect(leaks).toEqual([]);
    // Not vacuous: the run's outputs do carry the UIDs, and the report names DICOM images by them.
    const report = texts.find(([k]) => k === 'out/dcm-1/report/index.html')![1];
    expect(report).toContain(fixtures[0].uids.series);
    expect(logs.length).toBeGreaterThan(1000);
  }, 600_000);
});
