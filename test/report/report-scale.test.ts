import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLayout } from '../../src/run/layout.js';
import { buildRunMetrics, type RunMetrics } from '../../src/run/run-metrics.js';
import { RunTally } from '../../src/run/tally.js';
import type { PredictionLine, RunManifest } from '../../src/run/types.js';
import { getTextIfExists, putJson, putObject } from '../../src/shared/s3/objects.js';
import { openUploadStream } from '../../src/shared/s3/upload-stream.js';
import type { S3Location } from '../../src/shared/s3/uri.js';
import { seededRandom } from '../../src/shared/sampling.js';
import { execCli } from '../helpers/cli.js';
import { datasetFiles } from '../helpers/dataset.js';
import { childEnv, freshBucket, testConfig, testS3 } from '../helpers/services.js';

const PRELOAD = path.resolve(import.meta.dirname, '../helpers/print-peak-rss.mjs');
/** The one sampled key with a picture behind it: the most confident right PNEUMONIA call. */
const PICTURED = 'synthetic/PNEUMONIA/000000000.png';

/**
 * A finalized labelled run of N keys written straight to the S3 server with the run's own layout, metrics
 * counted by the finalize's tally: predictions.jsonl (binormal scores, so the curves have ~N points),
 * metrics.json and manifest.json. Only PICTURED has an image; every other key has no object.
 */
async function writeSyntheticRun(s3: S3Client, out: S3Location, runId: string, n: number): Promise<RunMetrics> {
  const layout = runLayout(out, runId);
  const source = { bucket: out.bucket, prefix: 'synthetic/' };
  const manifest: RunManifest = {
    runId,
    createdAt: new Date().toISOString(),
    source,
    out,
    batchSize: 500,
    batchesPerShard: 32,
    labelsFrom: 'key-folders',
    totalKeys: n,
    totalBatches: Math.ceil(n / 500),
    skipped: 0,
    shards: [],
  };
  const random = seededRandom(n);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const tally = new RunTally();
  const jsonl = openUploadStream(s3, layout.bucket, layout.predictionsJsonl, 'application/x-ndjson');
  let chunk: string[] = [];
  for (let i = 0; i < n; i++) {
    const positive = i === 0 || random() < 0.4;
    const probability = i === 0 ? 0.99999 : Math.fround(1 / (1 + Math.exp(-(normal() + (positive ? 1.5 : 0) - 0.5))));
    const trueLabel = positive ? 'PNEUMONIA' : 'NORMAL';
    const p: PredictionLine = {
      type: 'prediction',
      key: `synthetic/${trueLabel}/${String(i).padStart(9, '0')}.png`,
      etag: 'e',
      label: probability >= 0.5 ? 'PNEUMONIA' : 'NORMAL',
      probability,
      threshold: 0.5,
      modelId: 'synthetic',
      modelName: 'synthetic',
      modelVersion: '1',
      trueLabel,
      timings: { downloadMs: 1, decodeMs: 1, inferenceMs: 1 },
    };
    tally.prediction(p);
    chunk.push(JSON.stringify(p));
    if (chunk.length === 5000 || i === n - 1) {
      await jsonl.write(chunk.join('\n') + '\n');
      chunk = [];
    }
  }
  await jsonl.end();
  const metrics = buildRunMetrics(manifest, tally, new Date(), { state: 'done', generation: 0 });
  await putJson(s3, layout.bucket, layout.metrics, metrics);
  await putJson(s3, layout.bucket, layout.manifest, manifest);
  return metrics;
}

describe('the run report at 100 k and 1 M labelled keys (synthetic run on the S3 server, `cxr report run` in a child process)', () => {
  let s3: S3Client;
  let bucket: string;
  let env: NodeJS.ProcessEnv;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cxr-report-scale-'));
  const peaks: Record<number, number> = {};

  beforeAll(async () => {
    const config = testConfig();
    s3 = testS3(config);
    bucket = await freshBucket(s3, 'report-scale');
    // No Grad-CAM: an empty model folder (its model is a fixed cost, not one that grows with the run).
    env = { ...childEnv(config), LOG_LEVEL: 'info', CXR_MODEL_URI: tmp, NODE_OPTIONS: `--import=${PRELOAD}` };
    await putObject(s3, bucket, PICTURED, readFileSync(datasetFiles('PNEUMONIA', 1)[0]), 'image/jpeg');
  });

  afterAll(() => {
    s3?.destroy();
    rmSync(tmp, { recursive: true, force: true });
  });

  it.each([100_000, 1_000_000])(
    'N = %i: the report has the charts and the sampled pictures; only the samples are fetched',
    async (n) => {
      const out = { bucket, prefix: 'out' };
      const runId = `report-${n}`;
      const t0 = Date.now();
      const metrics = await writeSyntheticRun(s3, out, runId, n);
      const written = Date.now() - t0;
      const r = await execCli(['report', 'run', runId, '--out', `s3://${bucket}/out`], env);
      expect(r.code, r.stderr.slice(-3000)).toBe(0);
      const peak = Number(/peak-rss-kb (\d+)/.exec(r.stderr)?.[1]) * 1024;
      peaks[n] = peak;
      const html = (await getTextIfExists(s3, bucket, `out/${runId}/report/index.html`))!;
      process.stderr.write(
        `report N=${n}: synthetic run written in ${(written / 1000).toFixed(1)} s; cxr report run ${(r.ms / 1000).toFixed(1)} s, ` +
          `peak RSS ${(peak / 2 ** 20).toFixed(1)} MiB, index.html ${(html.length / 1024).toFixed(0)} KiB\n`,
      );

      const auc = metrics.classification!.rocAuc!;
      expect(auc).toBeGreaterThan(0.7);
      expect(html).toContain(`alt="ROC curve (AUC ${auc.toFixed(3)})"`);
      for (const chart of ['confusion-matrix', 'roc', 'precision-recall', 'score-histogram'])
        expect(html).toContain(`data-file="${chart}.png"`);
      // 8 right and 8 wrong calls in the grid; the one with a picture is drawn, the others say why they are blank.
      const tiles = html.match(/<figure class="(ok|bad)">/g) ?? [];
      expect(tiles).toHaveLength(16);
      expect(html.match(/<br>not drawn: /g)).toHaveLength(15);
      expect(html).toContain(
        `${PICTURED.replace(/[/_]/g, '$&<wbr>')}</span><br>true PNEUMONIA · predicted PNEUMONIA (p=1.000)</figcaption>`,
      );
      const warnings = r.stderr.split('\n').filter((l) => l.includes('report: image not drawn'));
      expect(warnings).toHaveLength(15); // the sampled keys only: nothing else was fetched
    },
    1_800_000,
  );

  it('peak RSS of the report grows at most 1.5x from 100 k to 1 M keys', () => {
    const ratio = peaks[1_000_000] / peaks[100_000];
    process.stderr.write(
      `report peak RSS: 100 k ${(peaks[100_000] / 2 ** 20).toFixed(1)} MiB, 1 M ${(peaks[1_000_000] / 2 ** 20).toFixed(1)} MiB, ratio ${ratio.toFixed(2)}\n`,
    );
    expect(ratio).toBeLessThanOrEqual(1.5);
  });
});
