import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { batchJobId } from '../../src/run/batching.js';
import { putObject } from '../../src/shared/s3/objects.js';
import { freeLoopbackPort } from '../../src/shared/services/free-port.js';
import { launchChromium } from '../helpers/browser.js';
import { CLI, execCli, runCli, startCliWorker, stopProcess } from '../helpers/cli.js';
import { datasetFiles } from '../helpers/dataset.js';
import { childEnv, freshBucket, testConfig, testS3 } from '../helpers/services.js';

/** Starts `cxr dashboard ...`; resolves once it printed where it listens. */
async function startDashboard(args: string[], env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLI, 'dashboard', ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => ((out += d), out.includes('dashboard: ') && resolve()));
    child.once('exit', (code) => reject(new Error(`cxr dashboard exited ${code} before listening`)));
  });
  return child;
}

describe('cxr dashboard (bull-board)', () => {
  const procs: ChildProcess[] = [];
  afterAll(async () => {
    for (const p of procs) await stopProcess(p);
  });

  it('lists the score queue and the jobs of a finished run, in headless Chromium', async () => {
    const config = testConfig();
    const env = { ...childEnv(config), CXR_ENGINE: 'null' };
    const s3 = testS3(config);
    const bucket = await freshBucket(s3);
    for (const f of datasetFiles('NORMAL', 6))
      await putObject(s3, bucket, `in/${path.basename(f)}`, readFileSync(f), 'image/jpeg');
    procs.push(startCliWorker(['--concurrency', '1'], env));
    await runCli(
      [
        'score',
        `s3://${bucket}/in/`,
        '--out',
        `s3://${bucket}/out`,
        '--batch-size',
        '4',
        '--run-id',
        'dash-run',
        '--wait',
      ],
      env,
    );
    s3.destroy();

    const port = await freeLoopbackPort();
    procs.push(await startDashboard(['--port', String(port)], env));
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      // Every request the page makes, to check none leaves the dashboard's own origin (no Google Fonts, no CDN).
      const origin = `http://127.0.0.1:${port}`;
      const requested: string[] = [];
      page.on('request', (r) => requested.push(r.url()));
      const fontsLoaded: string[] = [];
      page.on('response', (r) => /\/fonts\/.*\.woff2?$/.test(r.url()) && r.ok() && fontsLoaded.push(r.url()));
      await page.goto(`${origin}/`);
      const card = page.locator('a[href$="/queue/score"]').first();
      await card.waitFor({ timeout: 30_000 });
      expect(await page.locator('body').innerText()).toMatch(/cxr queues/);
      await page.evaluate(() => document.fonts.ready);
      expect(await page.evaluate(() => document.fonts.check('500 16px "IBM Plex Sans"'))).toBe(true);
      await page.goto(`http://127.0.0.1:${port}/queue/score?status=completed`);
      // Two batches of the run and its finalize job, each under its job id.
      for (const id of [batchJobId('dash-run', 0), batchJobId('dash-run', 1)])
        await page.getByText(id, { exact: false }).first().waitFor({ timeout: 30_000 });
      const text = await page.locator('body').innerText();
      expect(text).not.toMatch(/dash-run-b000002/); // six images in batches of four: two batches only
      expect(requested.length).toBeGreaterThan(3);
      expect(requested.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith('data:'))).toEqual([]);
      // The fonts bull-board asked Google for come from the dashboard itself.
      expect(fontsLoaded.length).toBeGreaterThan(0);
    } finally {
      await browser.close();
    }
  });

  it('off loopback it needs basic-auth credentials: one line naming --host without them, 401 then 200 with them', async () => {
    const env = childEnv(testConfig());
    const refused = await execCli(['dashboard', '--host', '0.0.0.0', '--port', String(await freeLoopbackPort())], env);
    expect(refused.code).toBe(2);
    expect(
      refused.stderr
        .trim()
        .split('\n')
        .filter((l) => !l.startsWith('{')),
    ).toEqual([
      'cxr: --host 0.0.0.0 is not loopback: set CXR_DASHBOARD_USER and CXR_DASHBOARD_PASSWORD (basic auth) to serve the dashboard there',
    ]);
    const port = await freeLoopbackPort();
    procs.push(
      await startDashboard(['--host', '0.0.0.0', '--port', String(port)], {
        ...env,
        CXR_DASHBOARD_USER: 'ops',
        CXR_DASHBOARD_PASSWORD: 's3cret',
      }),
    );
    const url = `http://127.0.0.1:${port}/api/queues`;
    expect((await fetch(url)).status).toBe(401);
    expect(
      (await fetch(url, { headers: { authorization: `Basic ${Buffer.from('ops:wrong').toString('base64')}` } })).status,
    ).toBe(401);
    const ok = await fetch(url, {
      headers: { authorization: `Basic ${Buffer.from('ops:s3cret').toString('base64')}` },
    });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { queues: { name: string }[] }).queues.map((q) => q.name).sort()).toEqual([
      'eval',
      'score',
      'train',
    ]);
  });
});
