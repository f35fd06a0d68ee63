// npm run bench:decode (also run by npm run bench): decode images/s per DICOM transfer syntax beside
// JPEG and PNG, each decoded to the model's 224×224 input by the worker's own decode path, one thread.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { decodeInput } from '../shared/image/decode-input.js';
import { repoRoot } from '../shared/paths.js';
import { makeDicomFixtures } from './dicom-fixtures.js';

const { values: v } = parseArgs({
  options: {
    width: { type: 'string', default: '2048' },
    height: { type: 'string', default: '1664' },
    seconds: { type: 'string', default: '1.5' },
  },
});

async function rate(bytes: Uint8Array, seconds: number): Promise<{ perSec: number; ms: number }> {
  await decodeInput(bytes); // warm: WASM codecs load on first use
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000 || n < 3) {
    await decodeInput(bytes);
    n++;
  }
  const ms = (performance.now() - t0) / n;
  return { perSec: Math.round((1000 / ms) * 10) / 10, ms: Math.round(ms * 10) / 10 };
}

async function main(): Promise<void> {
  const data =
    process.env.CXR_DATASET ?? path.resolve(repoRoot(), '..', 'shared', 'datasets', 'chest-xray-pneumonia', 'train');
  const file = path.join(data, 'NORMAL', readdirSync(path.join(data, 'NORMAL')).sort()[0]);
  const size = { width: Number(v.width), height: Number(v.height) };
  const seconds = Number(v.seconds);
  const { source, fixtures } = await makeDicomFixtures(readFileSync(file), size);
  const raw = sharp(source.grey, { raw: { width: source.width, height: source.height, channels: 1 } });
  const rows: { name: string; syntax: string; bytes: number; perSec: number; ms: number }[] = [];
  const add = async (name: string, syntax: string, bytes: Uint8Array) =>
    rows.push({ name, syntax, bytes: bytes.length, ...(await rate(bytes, seconds)) });
  await add('jpeg (sharp)', 'JPEG file, quality 90', await raw.clone().jpeg({ quality: 90 }).toBuffer());
  await add('png (sharp)', 'PNG file, 8-bit grey', await raw.clone().png().toBuffer());
  for (const f of fixtures.filter((x) => !['lateral', 'skull-ct', 'jpeg-lossless-p14'].includes(x.name)))
    await add(f.name, f.syntax, f.bytes);
  console.log(
    `decode to the 224×224 model input, ${size.width}×${size.height} source (upscaled from ${path.basename(file)}), one thread:`,
  );
  for (const r of rows)
    console.log(
      `${r.name.padEnd(28)} ${r.syntax.padEnd(24)} ${String(r.bytes).padStart(9)} B  ${String(r.perSec).padStart(7)} images/s  (${r.ms} ms)`,
    );
  console.log(JSON.stringify({ size, rows }));
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
