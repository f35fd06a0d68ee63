// The demo's default sample: images of the patients the shipped model holds out (held-out.json beside
// the model, written when it was shipped). Nothing in its training, checkpoint, threshold or temperature
// selection read them, so the demo's headline is an honest estimate and not an in-sample one.
import { access } from 'node:fs/promises';
import path from 'node:path';
import { readHeldOut } from '../model/held-out.js';
import { CLASS_NAMES, type ClassName } from '../shared/labels.js';
import { stratifiedSample } from '../shared/sampling.js';
import type { LocalImage } from './upload-sample.js';

export interface HeldOutSample {
  images: LocalImage[];
  patients: number;
  heldOutImages: number;
}

/**
 * A stratified sample of at most `limit` held-out images found under `imagesDir` (the dataset folder the
 * model was trained from, CLASS/file), or undefined when the model holds none out (it predates 2.1.0).
 * Fails naming the folder when held-out images are listed but missing there.
 */
export async function heldOutSample(
  modelDir: string,
  imagesDir: string,
  limit: number,
  seed = 42,
): Promise<HeldOutSample | undefined> {
  const held = await readHeldOut(modelDir);
  if (held === undefined) return undefined;
  const byClass = new Map<ClassName, LocalImage[]>(CLASS_NAMES.map((c) => [c, []]));
  const missing: string[] = [];
  const patientOf = new Map<string, string>();
  for (const it of held.images) {
    const f = path.join(imagesDir, it.path);
    patientOf.set(f, it.patient);
    if (
      await access(f).then(
        () => true,
        () => false,
      )
    )
      byClass.get(CLASS_NAMES[it.label])!.push({ file: f, label: CLASS_NAMES[it.label] });
    else missing.push(it.path);
  }
  if (missing.length)
    throw new Error(
      `${imagesDir}: ${missing.length} of the model's ${held.images.length} held-out images are missing (e.g. ${missing[0]}); give --images DIR to score another folder`,
    );
  const images = [...stratifiedSample(byClass, limit, seed).values()].flat();
  const patients = new Set(images.map((i) => patientOf.get(i.file))).size;
  return { images, patients, heldOutImages: held.images.length };
}
