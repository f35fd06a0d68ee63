import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/shared/paths.js';
import { launchChromium, type ImageState } from '../helpers/browser.js';
import { runCli } from '../helpers/cli.js';

describe('cxr report training', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cxr-training-report-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('writes chart PNGs and an index.html that chromium opens from file:// with every chart loaded', async () => {
    const modelDir = path.join(repoRoot(), 'models', 'pneumonia-resnet50');
    const { stdout } = await runCli(['report', 'training', modelDir, '--to', tmp], process.env);
    expect(stdout.trim()).toBe(path.join(tmp, 'index.html'));
    expect(readdirSync(tmp).sort()).toEqual(
      expect.arrayContaining(['confusion-matrix.png', 'index.html', 'training-curves.png']),
    );
    expect(readdirSync(tmp)).not.toContain('metrics-table.png');

    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      // The report's page (html.ts, shared with the run and evaluation reports) fetches nothing from a third party.
      const requested: string[] = [];
      page.on('request', (r) => requested.push(r.url()));
      await page.goto(`file://${path.join(tmp, 'index.html')}`);
      const images = (await page.$$eval('img.chart', (imgs) =>
        imgs.map((i) => ({
          cls: i.className,
          src: i.src.slice(0, 22),
          complete: i.complete,
          width: i.naturalWidth,
          height: i.naturalHeight,
        })),
      )) as ImageState[];
      expect(images).toHaveLength(2);
      for (const img of images) expect(img.complete && img.width > 100 && img.height > 100).toBe(true);
      expect(await page.textContent('h1')).toMatch(/^Training run: pneumonia-resnet50/);
      expect(requested.filter((u) => !u.startsWith('file://') && !u.startsWith('data:'))).toEqual([]);
      await page.screenshot({
        path: path.join(process.env.CXR_SCREENSHOT_DIR ?? tmp, 'training-report.png'),
        fullPage: true,
      });
    } finally {
      await browser.close();
    }
  });
});
