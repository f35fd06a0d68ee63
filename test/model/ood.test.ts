import { describe, expect, it } from 'vitest';
import { cholesky, fitGaussian, invertLower, mahalanobis, percentile } from '../../src/model/ood/mahalanobis.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fitOod, writeOodStats } from '../../src/model/ood/fit.js';
import { decodeOodStats, encodeOodStats, loadOodModel } from '../../src/model/ood/stats-file.js';
import { FlagTally, flagsFact } from '../../src/run/flags.js';
import { flaggedReason, OOD_FLAG, predictionExtras } from '../../src/worker/prediction-extras.js';
import type { FailureLine, PredictionLine } from '../../src/run/types.js';

/** Seeded standard normals (Box-Muller over mulberry32). */
function normals(seed: number, n: number): Float64Array {
  let a = seed >>> 0;
  const u = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  return Float64Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}

describe('Mahalanobis OOD maths', () => {
  it('cholesky and the triangular inverse reproduce the matrix and its inverse', () => {
    const a = Float64Array.from([4, 2, 0.4, 2, 5, 1, 0.4, 1, 3]);
    const l = cholesky(a, 3);
    const w = invertLower(l, 3);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        let llt = 0;
        let wl = 0;
        for (let k = 0; k < 3; k++) {
          llt += l[i * 3 + k] * l[j * 3 + k];
          wl += w[i * 3 + k] * l[k * 3 + j];
        }
        expect(llt).toBeCloseTo(a[i * 3 + j], 12);
        expect(wl).toBeCloseTo(i === j ? 1 : 0, 12);
      }
    }
    expect(() => cholesky(Float64Array.from([1, 2, 2, 1]), 2)).toThrow(/not positive definite/);
  });

  it('a fitted correlated Gaussian gives distances whose squares average the dimension, and far points lie far', () => {
    const d = 6;
    const n = 4000;
    const z = normals(7, n * d);
    // x = A z + m with A lower-triangular: strongly correlated, unequal scales.
    const rows = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      for (let r = 0; r < d; r++) {
        let s = 10 + r;
        for (let k = 0; k <= r; k++) s += (r === k ? 1 + r : 0.8) * z[i * d + k];
        rows[i * d + r] = s;
      }
    }
    const g = fitGaussian(rows, n, d);
    expect(g.shrinkage).toBeGreaterThanOrEqual(0);
    expect(g.shrinkage).toBeLessThan(0.05);
    const dist = mahalanobis(g, rows, n);
    const meanSq = dist.reduce((s, x) => s + x * x, 0) / n;
    expect(meanSq).toBeGreaterThan(d * 0.9);
    expect(meanSq).toBeLessThan(d * 1.05);
    // x = A·z + m lies at distance ‖z‖ under the true Gaussian: z = (±3, ...) gives 3·√6 ≈ 7.35.
    const zOdd = Array.from({ length: d }, (_, r) => (r % 2 === 0 ? 3 : -3));
    const odd = Float32Array.from({ length: d }, (_, r) => {
      let s = 10 + r;
      for (let k = 0; k <= r; k++) s += (r === k ? 1 + r : 0.8) * zOdd[k];
      return s;
    });
    const far = mahalanobis(g, odd, 1)[0];
    expect(far).toBeGreaterThan(3 * Math.sqrt(6) * 0.95);
    expect(far).toBeLessThan(3 * Math.sqrt(6) * 1.05);
    expect(far).toBeGreaterThan(percentile(dist, 99.5));
  });

  it('Ledoit-Wolf shrinks hard when there are fewer rows than dimensions, keeping the covariance invertible', () => {
    const d = 40;
    const n = 20;
    const rows = Float32Array.from(normals(3, n * d));
    const g = fitGaussian(rows, n, d);
    expect(g.shrinkage).toBeGreaterThan(0.3);
    expect(Number.isFinite(mahalanobis(g, rows.subarray(0, d), 1)[0])).toBe(true);
  });

  it('the float16 file keeps distances within 0.5%', () => {
    const d = 12;
    const n = 500;
    const rows = Float32Array.from(normals(11, n * d), (x, i) => x * (1 + (i % d)) + 0.1 * (i % 7));
    const g = fitGaussian(rows, n, d);
    const back = decodeOodStats(encodeOodStats(g), d);
    const a = mahalanobis(g, rows, n);
    const b = mahalanobis(back, rows, n);
    expect(Math.max(...Array.from(a, (x, i) => Math.abs(x - b[i]) / x))).toBeLessThan(0.005);
    expect(() => decodeOodStats(new Uint8Array(10), d)).toThrow(/needs/);
  });

  it('percentile is nearest-rank', () => {
    const v = Array.from({ length: 200 }, (_, i) => i + 1);
    expect(percentile(v, 99.5)).toBe(199);
    expect(percentile(v, 50)).toBe(100);
    expect(percentile(v, 100)).toBe(200);
  });
});

describe('OOD stats beside a model', () => {
  it('load only for the weights they were fitted on, and refuse a corrupted file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ood-'));
    writeFileSync(join(dir, 'weights.bin'), Buffer.from('weights v1'));
    const d = 5;
    const rows = Float32Array.from(normals(5, 200 * d));
    const fitted = fitOod(rows.subarray(0, 150 * d), 150, rows.subarray(150 * d), 50, d);
    const meta = await writeOodStats(dir, fitted, {
      modelId: 'abc',
      featureLayer: 'avg_pool',
      fitImages: 150,
      thresholdImages: 50,
      data: 'test',
      thresholdRule: 'p99.5',
    });
    expect(meta.threshold).toBe(percentile(fitted.heldOut, 99.5));
    const loaded = await loadOodModel(dir);
    expect(Array.from(mahalanobis(loaded!, rows.subarray(0, d), 1))[0]).toBeCloseTo(
      mahalanobis(fitted.gaussian, rows.subarray(0, d), 1)[0],
      2,
    );
    const warnings: unknown[] = [];
    writeFileSync(join(dir, 'weights.bin'), Buffer.from('weights v2 (adapted)'));
    expect(await loadOodModel(dir, { warn: (...a: unknown[]) => void warnings.push(a) } as never)).toBeUndefined();
    expect(warnings).toHaveLength(1);
    writeFileSync(join(dir, 'weights.bin'), Buffer.from('weights v1'));
    writeFileSync(join(dir, 'ood-stats.bin'), Buffer.alloc(fitted.bin.length));
    await expect(loadOodModel(dir)).rejects.toThrow(/sha256 .* does not match/);
    rmSync(dir, { recursive: true });
    expect(await loadOodModel(join(tmpdir(), 'no-such-model-dir-ood'))).toBeUndefined();
  });
});

describe('prediction flags and their counts', () => {
  const dicom = {
    uids: { study: '1.2', series: '1.2.3', sop: '1.2.3.4' },
    flags: ['lateral view'],
    transferSyntax: 'JPEG-LS Lossless',
    frames: 3,
  };

  it('adds UIDs, header flags, the OOD flag above the threshold, and the frame count', () => {
    expect(predictionExtras(dicom, 51.23456, 50)).toEqual({
      uids: dicom.uids,
      flags: ['lateral view', OOD_FLAG],
      ood: 51.235,
      frames: 3,
    });
    expect(predictionExtras(undefined, 12, 50)).toEqual({ ood: 12 });
    expect(predictionExtras(undefined, undefined, undefined)).toEqual({});
    expect(flaggedReason(['lateral view', OOD_FLAG])).toBe(
      'flagged (--skip-flagged): lateral view, out of distribution',
    );
  });

  it('counts flagged, OOD and skipped-as-flagged images', () => {
    const p = (flags?: string[], ood?: number) => ({ flags, ood }) as PredictionLine;
    const f = (stage: FailureLine['stage']) => ({ stage }) as FailureLine;
    const tally = new FlagTally();
    for (const x of [p(['lateral view', OOD_FLAG], 90), p([OOD_FLAG], 80), p(undefined, 10), p(undefined, 11)])
      tally.prediction(x);
    for (const x of [f('flagged'), f('decode')]) tally.failure(x);
    const c = tally.result();
    expect(c).toEqual({
      flagged: 2,
      outOfDistribution: 2,
      inTrainingSet: 0,
      withOodScore: 4,
      byFlag: { 'lateral view': 1, [OOD_FLAG]: 2 },
      failedAsFlagged: 1,
    });
    expect(flagsFact(c)).toBe(
      '2 flagged, 2 out of distribution (1 lateral view; 2 out of distribution); 1 failed under --skip-flagged',
    );
  });
});
