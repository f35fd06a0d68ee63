import type { DicomHeader } from './header.js';

const LATERAL = new Set(['LL', 'RL', 'LAT', 'LATERAL', 'LLD', 'RLD', 'LLO', 'RLO']);
const FRONTAL_MODALITIES = new Set(['CR', 'DX']);

/**
 * What the header says that the model was not trained on (frontal chest films from CR/DX): the image is
 * still scored, with these flags on its prediction line. Pure.
 */
export function headerFlags(h: Pick<DicomHeader, 'viewPosition' | 'bodyPart' | 'modality'>): string[] {
  const flags: string[] = [];
  const view = h.viewPosition?.toUpperCase();
  if (view && LATERAL.has(view)) flags.push('lateral view');
  const part = h.bodyPart?.toUpperCase();
  if (part && part !== 'CHEST') flags.push(`body part ${part} (not CHEST)`);
  const modality = h.modality?.toUpperCase();
  if (modality && !FRONTAL_MODALITIES.has(modality)) flags.push(`modality ${modality} (not CR/DX)`);
  return flags;
}
