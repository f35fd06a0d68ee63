import { describe, expect, it } from 'vitest';
import { fitGaussian, mahalanobis } from '../../src/model/ood/mahalanobis.js';
import { OOD_INPUT, OOD_OUTPUT, oodGraph } from '../../src/model/ood/ood-graph.js';
import { importOrt } from '../../src/model/onnx/ort-session.js';
import { seededRandom } from '../../src/shared/sampling.js';

describe('OOD distance as an ONNX graph', () => {
  it('gives the distances mahalanobis() gives, for a whole batch', async () => {
    const d = 24;
    const rand = seededRandom(5);
    const rows = Float32Array.from({ length: 200 * d }, (_, i) => (rand() - 0.5) * (1 + (i % d)) + (i % 3));
    const g = fitGaussian(rows, 200, d);
    const probe = Float32Array.from({ length: 7 * d }, () => (rand() - 0.3) * 8);
    const want = mahalanobis(g, probe, 7);
    const ort = await importOrt();
    const s = await ort.InferenceSession.create(oodGraph(g));
    const got = (await s.run({ [OOD_INPUT]: new ort.Tensor('float32', probe, [7, d]) }))[OOD_OUTPUT]
      .data as Float32Array;
    await s.release();
    expect(got.length).toBe(7);
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 3));
    expect(Math.max(...want)).toBeGreaterThan(Math.min(...want) + 1); // distances that differ: not a constant passing by luck
  });
});
