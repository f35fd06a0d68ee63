/** Loss per finished epoch, as the best-checkpoint rule sees it. */
export interface EpochLoss {
  epoch: number;
  valLoss: number;
}

/**
 * Best epoch: lowest validation loss among epochs >= minEpochs (ties: the earlier one); when no epoch
 * has reached minEpochs yet, the last one (as trainHead falls back). Pure.
 */
export function selectBest(history: readonly EpochLoss[], minEpochs: number): number | null {
  if (history.length === 0) return null;
  let best: EpochLoss | null = null;
  for (const h of history)
    if (h.epoch >= minEpochs && Number.isFinite(h.valLoss) && (!best || h.valLoss < best.valLoss)) best = h;
  return best ? best.epoch : history[history.length - 1].epoch;
}

/** Early stop: `patience` epochs after minEpochs without improving on the best validation loss. Pure. */
export function shouldStopEarly(history: readonly EpochLoss[], minEpochs: number, patience: number): boolean {
  let bestLoss = Infinity;
  let since = 0;
  for (const h of history) {
    if (h.epoch < minEpochs) continue;
    if (h.valLoss < bestLoss) {
      bestLoss = h.valLoss;
      since = 0;
    } else since++;
  }
  return since >= patience;
}
