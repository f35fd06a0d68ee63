// Temperature scaling (Guo et al. 2017): one scalar T > 0 divides every logit, fitted by minimising the
// validation negative log-likelihood. It keeps the ranking (AUC) and, with the threshold moved along,
// every decision; it only makes the scores mean what they say. Pure.

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/** Mean binary cross-entropy of sigmoid(logits / t), computed stably from the logits. */
export function nllAtTemperature(logits: ArrayLike<number>, truth: ArrayLike<number>, t: number): number {
  let s = 0;
  for (let i = 0; i < logits.length; i++) {
    const z = logits[i] / t;
    // -log sigmoid(z) for y = 1, -log(1 - sigmoid(z)) for y = 0, as softplus
    const m = truth[i] ? -z : z;
    s += Math.max(m, 0) + Math.log1p(Math.exp(-Math.abs(m)));
  }
  return s / Math.max(1, logits.length);
}

/** The temperature in [exp(lo), exp(hi)] with the lowest validation NLL (golden-section search on log T; the NLL is unimodal in it). */
export function fitTemperature(
  logits: ArrayLike<number>,
  truth: ArrayLike<number>,
  lo = Math.log(0.05),
  hi = Math.log(100),
): { temperature: number; nllBefore: number; nllAfter: number } {
  const f = (u: number) => nllAtTemperature(logits, truth, Math.exp(u));
  const g = (Math.sqrt(5) - 1) / 2;
  let a = lo;
  let b = hi;
  let c = b - g * (b - a);
  let d = a + g * (b - a);
  let fc = f(c);
  let fd = f(d);
  for (let i = 0; i < 80; i++) {
    if (fc < fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = f(d);
    }
  }
  const t = Math.exp((a + b) / 2);
  return {
    temperature: t,
    nllBefore: nllAtTemperature(logits, truth, 1),
    nllAfter: nllAtTemperature(logits, truth, t),
  };
}

/** Scores (float32, as engines return them) of logits at temperature t. */
export const scoresAt = (logits: ArrayLike<number>, t: number): Float32Array =>
  Float32Array.from(logits, (z) => sigmoid(z / t));

/** Share of scores within `eps` of 0 or 1: saturated scores that no threshold can split. */
export function saturatedShare(scores: ArrayLike<number>, eps = 1e-6): number {
  let n = 0;
  for (let i = 0; i < scores.length; i++) if (scores[i] <= eps || scores[i] >= 1 - eps) n++;
  return n / Math.max(1, scores.length);
}
