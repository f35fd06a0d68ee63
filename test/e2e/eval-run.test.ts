import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { S3Client } from '@aws-sdk/client-s3';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dateIn, evalRunId } from '../../src/eval/firing.js';
import { parseHistory } from '../../src/eval/history.js';
import { EVAL_QUEUE, type EvalJobData, type HistoryEntry } from '../../src/eval/types.js';
import { getTextIfExists, putObject } from '../../src/shared/s3/objects.js';
import { launchChromium, type ImageState } from '../helpers/browser.js';
import { runCli, startCliWorker, stopProcess, waitFor } from '../helpers/cli.js';
import { datasetFiles } from '../helpers/dataset.js';
import { downloadPrefix } from '../../src/shared/s3/download.js';
import { childEnv, freshBucket, testConfig, testRedis, testS3 } from '../helpers/services.js';

/** Nightly evaluation end to end: eval job -> in-process eval worker -> scoring run -> metrics, report, history, alert. */
describe('nightly evaluation (real Redis, S3 server, worker process, headless chromium)', () => {
  let s3: S3Client;
  let redis: Redis;
  let evalQueue: Queue;
  let bucket: string;
  let env: NodeJS.ProcessEnv;
  let worker: ChildProcess | undefined;
  let server: http.Server;
  let hookUrl: string;
  const posts: unknown[] = [];
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cxr-eval-test-'));
  let data: EvalJobData;
  let firstDate: string;

  const history = async () => parseHistory(await getTextIfExists(s3, bucket, 'evals/history.jsonl'));

  beforeAll(async () => {
    const config = testConfig();
    env = childEnv(config);
    s3 = testS3(config);
    redis = testRedis(config);
    evalQueue = new Queue(EVAL_QUEUE, { connection: redis, prefix: config.queuePrefix });
    bucket = await freshBucket(s3);
    for (const label of ['NORMAL', 'PNEUMONIA'] as const) {
      for (const f of datasetFiles(label, 3, 10))
        await putObject(s3, bucket, `labelled/${label}/${path.basename(f)}`, readFileSync(f), 'image/jpeg');
    }
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d));
      req.on('end', () => {
        posts.push({ path: req.url, type: req.headers['content-type'], body: JSON.parse(body) as unknown });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    hookUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`;
    // A baseline whose scores all sat in the top bin: tonight's distribution must be flagged as shifted.
    const baseline = path.join(tmp, 'baseline.json');
    writeFileSync(
      baseline,
      JSON.stringify({
        metrics: { recall: 0.5, specificity: 0.5, rocAuc: 0.5 },
        scores: { histogram: [...new Array(19).fill(0), 50] },
      }),
    );
    data = {
      name: 'nightly',
      data: `s3://${bucket}/labelled/`,
      out: `s3://${bucket}/evals`,
      margin: 0.02,
      psiLimit: 0.2,
      ksLimit: 0.2,
      batchSize: 4,
      webhook: hookUrl,
      baseline,
    };
    // One score slot: the evaluation must not take it (it runs in the worker's own process).
    worker = startCliWorker(['--queues', 'score,eval', '--concurrency', '1'], env);
  });

  afterAll(async () => {
    if (worker) await stopProcess(worker);
    await evalQueue?.close();
    redis?.disconnect();
    s3?.destroy();
    await new Promise((r) => server?.close(r));
    rmSync(tmp, { recursive: true, force: true });
  });

  it('a fired eval job scores the labelled set and writes metrics, report and history; a baseline shift alerts the webhook', async () => {
    const job = await evalQueue.add('eval', data, { jobId: 'firing-1' });
    firstDate = dateIn(job.timestamp);
    const [entry] = await waitFor(
      'the evaluation history',
      async () => ((await history()).length ? await history() : undefined),
      600_000,
      1000,
    );
    expect(entry).toMatchObject({ date: firstDate, name: 'nightly', runId: evalRunId('nightly', firstDate) });
    expect(entry.metrics.n).toBe(6);
    expect(entry.metrics.confusion.tp + entry.metrics.confusion.fn).toBe(3);
    expect(entry.scores.n).toBe(6);
    expect(entry.model?.id).toMatch(/^[0-9a-f]{16}$/);

    const metrics = JSON.parse(
      (await getTextIfExists(s3, bucket, `evals/${firstDate}/metrics.json`))!,
    ) as HistoryEntry & { run: { counts: { scored: number } } };
    expect(metrics.run.counts.scored).toBe(6);
    expect(await getTextIfExists(s3, bucket, `evals/${firstDate}/report/index.html`)).toContain('<img class="chart"');

    // Baseline: scores all in the top bin -> KS/PSI shift; metrics at 0.5 never "drop".
    expect(
      entry.alerts
        .filter((a) => a.against === 'baseline')
        .map((a) => a.metric)
        .sort(),
    ).toEqual(['KS', 'PSI']);
    expect(entry.alerts.every((a) => a.kind === 'distribution-shift')).toBe(true);
    await waitFor('the webhook POST', async () => (posts.length ? true : undefined), 10_000, 100);
    expect(posts).toHaveLength(1);
    expect(posts[0]).toMatchObject({
      path: '/alerts',
      type: 'application/json',
      body: { type: 'cxr.evaluation.alert', name: 'nightly', date: firstDate },
    });
    expect((posts[0] as { body: { alerts: unknown[] } }).body.alerts).toHaveLength(entry.alerts.length);

    // The scoring run's own report, written by finalize.
    const runReport = `evals/runs/${entry.runId}/report/index.html`;
    await waitFor('the run report', () => getTextIfExists(s3, bucket, runReport), 120_000, 1000);
  });

  it('the next night compares with the previous one; evals history prints both; a retried night replaces its entry', async () => {
    const next = new Date(Date.parse(`${firstDate}T12:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
    const args = [
      'eval',
      'run',
      '--data',
      data.data,
      '--out',
      data.out,
      '--name',
      'nightly',
      '--batch-size',
      '4',
      '--date',
      next,
    ];
    const out = JSON.parse((await runCli(args, env)).stdout) as HistoryEntry;
    expect(out.date).toBe(next);
    // Same images, same model: no drop and no shift against the previous night.
    expect(out.alerts).toEqual([]);
    expect(out.metrics).toEqual((await history())[0].metrics);
    await runCli(args, env); // a retry of the same night
    expect((await history()).map((h) => h.date)).toEqual([firstDate, next]);
    const table = (await runCli(['evals', 'history', '--out', data.out], env)).stdout;
    expect(table).toContain(firstDate);
    expect(table).toContain(next);
    expect(table).toMatch(/KS vs baseline/);
    expect(posts).toHaveLength(1);
    // The report command regenerates a run's report on demand (here into a local folder).
    const local = path.join(tmp, 'regenerated');
    expect((await runCli(['report', 'run', evalRunId('nightly', firstDate), '--dir', local], env)).stdout.trim()).toBe(
      path.join(local, 'index.html'),
    );
    expect(readFileSync(path.join(local, 'index.html'), 'utf8')).toContain('Sample X-rays');
    expect(readFileSync(path.join(local, 'roc.png')).subarray(1, 4).toString()).toBe('PNG');
    await downloadPrefix(s3, bucket, `evals/${next}/report`, path.join(tmp, 'eval-report'));
    await downloadPrefix(
      s3,
      bucket,
      `evals/runs/${evalRunId('nightly', firstDate)}/report`,
      path.join(tmp, 'run-report'),
    );
  });

  it('the reports open from file:// in headless chromium with every chart and X-ray loaded', async () => {
    const browser = await launchChromium();
    try {
      for (const [dir, charts] of [
        ['eval-report', 5],
        ['run-report', 4],
      ] as const) {
        const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
        const failed: string[] = [];
        page.on('requestfailed', (r) => failed.push(r.url()));
        await page.goto(`file://${path.join(tmp, dir, 'index.html')}`);
        await page.waitForLoadState('load');
        const images = (await page.$$eval('img', (imgs) =>
          imgs.map((i) => ({
            cls: i.className,
            src: i.src.slice(0, 22),
            complete: i.complete,
            width: i.naturalWidth,
            height: i.naturalHeight,
          })),
        )) as ImageState[];
        const chartImgs = images.filter((i) => i.cls === 'chart');
        const xrays = images.filter((i) => i.cls === 'xray');
        expect(chartImgs).toHaveLength(charts);
        expect(xrays.length).toBeGreaterThanOrEqual(6); // the grid holds all 6 images; Grad-CAM adds more
        for (const img of images) {
          expect(img.complete).toBe(true);
          expect(img.width).toBeGreaterThan(100);
          expect(img.height).toBeGreaterThan(100);
          expect(img.src).toMatch(/^data:image\/(png|jpeg);base64/);
        }
        expect(failed).toEqual([]);
        // Captions: the key with its folders first; no piece of a word (of the key: between '/', '_', '-') split across lines.
        const captions = await page.$$eval('figcaption', (fcs) =>
          fcs.map((fc) => {
            const split: string[] = [];
            const walker = document.createTreeWalker(fc, NodeFilter.SHOW_TEXT);
            for (let node = walker.nextNode(); node; node = walker.nextNode()) {
              for (const m of (node.textContent ?? '').matchAll(/[^\s/_-]+[/_-]?/g)) {
                const range = document.createRange();
                range.setStart(node, m.index);
                range.setEnd(node, m.index + m[0].length);
                if (range.getClientRects().length !== 1) split.push(m[0]);
              }
            }
            return { key: fc.querySelector('.key')?.textContent ?? '', split };
          }),
        );
        expect(captions.length).toBeGreaterThanOrEqual(6);
        for (const c of captions) {
          expect(c.key).toMatch(/^labelled\/(NORMAL|PNEUMONIA)\/[^/]+\.jpe?g$/);
          expect(c.split).toEqual([]);
        }
        const headings = await page.$$eval('h2', (hs) => hs.map((h) => h.textContent));
        expect(headings).toEqual(
          expect.arrayContaining(['Charts', 'Sample X-rays', 'Grad-CAM: most confident pneumonia calls']),
        );
        const shot = path.join(process.env.CXR_SCREENSHOT_DIR ?? tmp, `${dir}.png`);
        await page.screenshot({ path: shot, fullPage: true });
        await page.close();
      }
    } finally {
      await browser.close();
    }
  });
});
