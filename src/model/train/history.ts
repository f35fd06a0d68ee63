/** One merged round of a training run, as history.json and the model card keep it. */
export interface HistoryEntry {
  epoch: number;
  lr: number;
  trainLoss: number;
  trainAccuracy: number;
  /** Loss and accuracy of the selection set: the stressed validation where selectedOn says so, else the stored images. */
  valLoss: number;
  valAccuracy: number;
  selectedOn?: 'stressed';
  cleanValLoss?: number;
  cleanValAccuracy?: number;
  cleanValAuc?: number;
  stressedValAuc?: number;
}
