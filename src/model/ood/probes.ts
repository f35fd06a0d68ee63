import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { repoRoot } from '../../shared/paths.js';

/** An image that is not a chest X-ray, to show the OOD distance separates them. */
export interface Probe {
  name: string;
  kind: 'photo' | 'noise' | 'flat' | 'text';
  bytes: Uint8Array;
}

/** Deterministic uniform noise (mulberry32). */
function noise(seed: number, n: number): Uint8Array {
  let a = seed >>> 0;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    out[i] = ((t ^ (t >>> 14)) >>> 0) % 256;
  }
  return out;
}

const PAGE = [
  'Discharge summary',
  'The patient was admitted with a productive cough and fever.',
  'Chest radiograph showed consolidation in the right lower lobe.',
  'Treated with antibiotics; symptoms resolved over five days.',
  'Follow-up in clinic in six weeks with a repeat film.',
  'Medications: amoxicillin 500 mg three times daily.',
  'Allergies: none known. Observations stable on discharge.',
];

/** A rendered page of text, dark on light (or inverted). */
async function textPage(invert: boolean): Promise<Uint8Array> {
  const [fg, bg] = invert ? ['#f0f0f0', '#101010'] : ['#111111', '#fbfbf6'];
  const lines = PAGE.map(
    (l, i) => `<text x="24" y="${60 + i * 34}" font-family="serif" font-size="18" fill="${fg}">${l}</text>`,
  ).join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="400"><rect width="640" height="400" fill="${bg}"/>${lines}</svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/** The ImageNet test photo, noise, flat images and pages of text, as encoded images. */
export async function oodProbes(): Promise<Probe[]> {
  const chelsea = new Uint8Array(await readFile(join(repoRoot(), 'test', 'fixtures', 'chelsea.png')));
  const raw = (bytes: Uint8Array, channels: 1 | 3, size = 256) =>
    sharp(bytes, { raw: { width: size, height: size, channels } })
      .png()
      .toBuffer();
  const flat = (v: number) =>
    sharp({ create: { width: 256, height: 256, channels: 3, background: { r: v, g: v, b: v } } })
      .png()
      .toBuffer();
  return [
    { name: 'chelsea (ImageNet test photo)', kind: 'photo', bytes: chelsea },
    { name: 'chelsea, greyscale', kind: 'photo', bytes: await sharp(chelsea).greyscale().png().toBuffer() },
    { name: 'uniform noise, grey', kind: 'noise', bytes: await raw(noise(1, 256 * 256), 1) },
    { name: 'uniform noise, colour', kind: 'noise', bytes: await raw(noise(2, 256 * 256 * 3), 3) },
    {
      name: 'blurred noise, grey',
      kind: 'noise',
      bytes: await sharp(await raw(noise(3, 256 * 256), 1))
        .blur(6)
        .normalise()
        .png()
        .toBuffer(),
    },
    { name: 'flat grey 128', kind: 'flat', bytes: await flat(128) },
    { name: 'flat black', kind: 'flat', bytes: await flat(0) },
    { name: 'flat white', kind: 'flat', bytes: await flat(255) },
    { name: 'page of text', kind: 'text', bytes: await textPage(false) },
    { name: 'page of text, inverted', kind: 'text', bytes: await textPage(true) },
  ];
}
