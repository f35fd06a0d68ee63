import type { LrSchedule } from './options.js';

/** Learning rate for `epoch` (0-based) of `epochs`: constant, cosine to 0, or x0.1 every third of the run. */
export function learningRateAt(schedule: LrSchedule, base: number, epoch: number, epochs: number): number {
  switch (schedule) {
    case 'constant':
      return base;
    case 'cosine':
      return base * 0.5 * (1 + Math.cos((Math.PI * epoch) / Math.max(1, epochs)));
    case 'step':
      return base * Math.pow(0.1, Math.floor((3 * epoch) / Math.max(1, epochs)));
  }
}

/** The schedule after `warmup` rounds of linear warm-up (round e < warmup gets base * (e + 1) / (warmup + 1)). */
export function learningRateWithWarmup(
  schedule: LrSchedule,
  base: number,
  epoch: number,
  epochs: number,
  warmup: number,
): number {
  if (epoch < warmup) return (base * (epoch + 1)) / (warmup + 1);
  return learningRateAt(schedule, base, epoch - warmup, Math.max(1, epochs - warmup));
}
