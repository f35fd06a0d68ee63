import { seededRandom, seedFrom, shuffled } from '../shared/sampling.js';

/**
 * Splits items into k shards for one epoch, stratified by class: each class is shuffled with a seed
 * derived from (seed, epoch, class) and dealt round-robin, continuing the deal across classes so shard
 * sizes differ by at most one. Every item lands in exactly one shard. Pure and reproducible.
 */
export function shardsForEpoch<T extends { label: number }>(
  items: readonly T[],
  k: number,
  seed: number,
  epoch: number,
): T[][] {
  if (!Number.isInteger(k) || k < 1) throw new Error(`shard count must be a positive integer, got ${k}`);
  const shards: T[][] = Array.from({ length: k }, () => []);
  const labels = [...new Set(items.map((i) => i.label))].sort((a, b) => a - b);
  let next = 0;
  for (const label of labels) {
    const ofClass = items.filter((i) => i.label === label);
    for (const it of shuffled(ofClass, seededRandom(seedFrom('shard', seed, epoch, label)))) {
      shards[next].push(it);
      next = (next + 1) % k;
    }
  }
  return shards;
}
