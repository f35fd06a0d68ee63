import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeDicomFixtures, type DicomFixture, type FailingFixture } from '../../src/bench/dicom-fixtures.js';
import { decodeToRgb, ImageDecodeError } from '../../src/shared/image/decode.js';
import { decodeInput } from '../../src/shared/image/decode-input.js';
import { decodeDicom } from '../../src/shared/image/dicom/decode-dicom.js';
import { codestreamSize } from '../../src/shared/image/dicom/codestream.js';
import { headerFlags } from '../../src/shared/image/dicom/flags.js';
import { pixelBytes } from '../../src/shared/image/dicom/inflate.js';
import { isDicom } from '../../src/shared/image/dicom/sniff.js';
import { storedValues, swap16 } from '../../src/shared/image/dicom/stored-values.js';
import { percentiles, toDisplay8, windowFunction } from '../../src/shared/image/dicom/voi.js';
import { qualityProblem } from '../../src/shared/image/quality.js';
import { DATASET } from '../helpers/dataset.js';

const jpeg = readFileSync(path.join(DATASET, 'PNEUMONIA', readdir('PNEUMONIA')[3]));
function readdir(label: string): string[] {
  return readdirSync(path.join(DATASET, label)).sort();
}

let fixtures: DicomFixture[];
let failing: FailingFixture[];
let reference: Uint8Array;

beforeAll(async () => {
  ({ fixtures, failing } = await makeDicomFixtures(jpeg));
  reference = (await decodeToRgb(jpeg)).rgb;
}, 60_000);

function diff(a: Uint8Array, b: Uint8Array): { max: number; mean: number } {
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    sum += d;
    if (d > max) max = d;
  }
  return { max, mean: sum / a.length };
}

describe('DICOM decoding', () => {
  it("decodes every transfer syntax to the source JPEG's 224×224 input within its tolerance", async () => {
    const rows: string[] = [];
    for (const f of fixtures) {
      expect(isDicom(f.bytes), f.name).toBe(true);
      const d = await decodeDicom(f.bytes);
      const { max, mean } = diff(d.rgb, reference);
      rows.push(
        `${f.name.padEnd(28)} ${f.syntax.padEnd(24)} max |Δ| ${String(max).padStart(2)} (allowed ${f.tolerance})  mean |Δ| ${mean.toFixed(3)}`,
      );
      expect(max, f.name).toBeLessThanOrEqual(f.tolerance);
      expect(d.dicom.uids, f.name).toEqual(f.uids);
      expect(d.dicom.flags, f.name).toEqual(f.flags);
      expect(d.dicom.frames, f.name).toBe(f.frames);
      expect([d.width, d.height]).toEqual([224, 224]);
    }
    console.log(`decoded vs source JPEG (${fixtures.length} variants):\n${rows.join('\n')}`);
    expect(new Set(fixtures.map((f) => f.syntax)).size).toBeGreaterThanOrEqual(13);
  }, 60_000);

  it('fails non-image, unsupported and corrupt objects with a named reason', async () => {
    for (const f of failing) {
      await expect(decodeDicom(f.bytes), f.name).rejects.toThrow(ImageDecodeError);
      await expect(decodeDicom(f.bytes), f.name).rejects.toThrow(f.reason);
    }
  });

  it('a corrupt codestream fails that object alone; the codec decodes the next one', async () => {
    const outcomes: string[] = [];
    for (const name of ['jpeg-baseline', 'jpeg-ls', 'j2k-lossless', 'jpeg-lossless-sv1-12bit', 'rle-12bit']) {
      const good = fixtures.find((f) => f.name === name)!;
      const bad = good.bytes.slice();
      // Overwrite the codestream's second half (pixel data ends the file), keeping every length intact.
      bad.fill(0xa5, bad.length - Math.floor((bad.length - 2000) / 2), bad.length - 4);
      const r = await decodeDicom(bad).then(
        () => 'decoded (garbled pixels)',
        (e: unknown) => (e instanceof ImageDecodeError ? e.reason : `NOT an ImageDecodeError: ${String(e)}`),
      );
      outcomes.push(`${name}: ${r}`);
      expect(r, name).not.toMatch(/NOT an ImageDecodeError/);
      expect(diff((await decodeDicom(good.bytes)).rgb, reference).max, name).toBeLessThanOrEqual(good.tolerance);
    }
    console.log(outcomes.join('\n'));
  });

  it('a header that disagrees with its pixel data fails that object with a named reason, whatever the codec', async () => {
    const outcomes: string[] = [];
    for (const f of fixtures.filter((x) => !['implicit-le', 'deflate', 'explicit-be-12bit'].includes(x.name))) {
      // Rows (0028,0010) US, explicit little endian: claim 300 rows instead of 224.
      const bytes = f.bytes.slice();
      const at = Buffer.from(bytes).indexOf(Buffer.from([0x28, 0x00, 0x10, 0x00, 0x55, 0x53, 0x02, 0x00]));
      expect(at, f.name).toBeGreaterThan(0);
      new DataView(bytes.buffer).setUint16(at + 8, 300, true);
      const r = await decodeDicom(bytes).then(
        () => 'decoded',
        (e: unknown) => (e instanceof ImageDecodeError ? e.reason : `NOT an ImageDecodeError: ${String(e)}`),
      );
      outcomes.push(`${f.name}: ${r}`);
      expect(r, f.name).not.toMatch(/NOT an ImageDecodeError/);
    }
    console.log(outcomes.join('\n'));
  });

  it('a header over the pixel limit, and a codestream larger than its header, fail before any decoder allocates', async () => {
    // Rows and Columns (US, explicit little endian) of a native file: 30000×30000 with 50 KB of pixel data.
    const native = fixtures.find((f) => f.name === 'explicit-le')!.bytes.slice();
    for (const [tag, v] of [
      [0x10, 30000],
      [0x11, 30000],
    ] as const) {
      const at = Buffer.from(native).indexOf(Buffer.from([0x28, 0x00, tag, 0x00, 0x55, 0x53, 0x02, 0x00]));
      new DataView(native.buffer).setUint16(at + 8, v, true);
    }
    await expect(decodeDicom(native)).rejects.toThrow(
      /^DICOM image is 30000×30000 = 900,000,000 pixels, over the pixel limit of 100,000,000$/,
    );
    // A JPEG 2000 codestream whose SIZ says 60000×60000 (Xsiz, Ysiz) under a 224×224 header.
    const j2k = fixtures.find((f) => f.name === 'j2k-lossless')!.bytes.slice();
    const siz = Buffer.from(j2k).indexOf(Buffer.from([0xff, 0x4f, 0xff, 0x51])) + 4;
    new DataView(j2k.buffer).setUint32(siz + 4, 60000);
    new DataView(j2k.buffer).setUint32(siz + 8, 60000);
    await expect(decodeDicom(j2k)).rejects.toThrow(
      'DICOM JPEG 2000 Lossless codestream is 60000×60000, the DICOM header says 224×224 (JPEG 2000 Lossless codestream is 60000×60000 = 3,600,000,000 pixels, over the pixel limit of 100,000,000)',
    );
    // A JPEG-LS frame header (SOF55) claiming 4000 columns.
    const jls = fixtures.find((f) => f.name === 'jpeg-ls')!.bytes.slice();
    const sof = Buffer.from(jls).indexOf(Buffer.from([0xff, 0xf7]));
    new DataView(jls.buffer).setUint16(sof + 7, 4000);
    await expect(decodeDicom(jls)).rejects.toThrow(
      'DICOM JPEG-LS Lossless codestream is 4000×224, the DICOM header says 224×224',
    );
  });

  it('recognises DICOM by content, not by name', async () => {
    expect(isDicom(jpeg)).toBe(false);
    const lateral = fixtures.find((f) => f.name === 'lateral')!;
    const d = await decodeInput(lateral.bytes);
    expect(d.format).toBe('dicom');
    expect(d.dicom?.flags).toEqual(['lateral view']);
    expect((await decodeInput(jpeg)).dicom).toBeUndefined();
  });
});

describe('display pipeline (pure)', () => {
  it('the LINEAR window follows PS3.3 C.11.2.1.2.1', () => {
    const f = windowFunction(40, 400);
    expect(f(40 - 0.5 - 399 / 2)).toBe(0);
    expect(f(40 - 0.5 + 399 / 2 + 1)).toBe(255);
    expect(f(39.5)).toBeCloseTo(127.5, 6);
    expect(windowFunction(128, 256)(77)).toBeCloseTo(77, 9);
  });

  it('rescales, windows and inverts MONOCHROME1', () => {
    const stored = Int32Array.from([0, 1000, 2000, 4095]);
    const m2 = toDisplay8(stored, {
      rescaleSlope: 2,
      rescaleIntercept: -1000,
      window: { center: 1000, width: 2000 },
      invert: false,
    });
    const m1 = toDisplay8(stored, {
      rescaleSlope: 2,
      rescaleIntercept: -1000,
      window: { center: 1000, width: 2000 },
      invert: true,
    });
    expect(Array.from(m2)).toEqual([0, 128, 255, 255]);
    expect(Array.from(m1)).toEqual(Array.from(m2).map((v) => 255 - v));
  });

  it('uses the VOI LUT sequence before any window, and a percentile window when the header has none', () => {
    const lut = { firstMapped: -2, bits: 8, data: Uint16Array.from([0, 51, 102, 153, 204, 255]) };
    expect(
      Array.from(
        toDisplay8(Int32Array.from([-5, -2, 0, 3, 9]), {
          rescaleSlope: 1,
          rescaleIntercept: 0,
          voiLut: lut,
          window: { center: 0, width: 1 },
          invert: false,
        }),
      ),
    ).toEqual([0, 0, 102, 255, 255]);
    const values = Int32Array.from({ length: 1000 }, (_, i) => (i === 0 ? -30000 : i === 999 ? 30000 : 100 + i));
    // sorted: -30000, 101..1098, 30000: the 0.5th and 99.5th percentiles are sorted[5] and sorted[995].
    expect(percentiles(values, [0.5, 99.5])).toEqual([105, 1095]);
    const out = toDisplay8(values, { rescaleSlope: 1, rescaleIntercept: 0, invert: false });
    expect(out[5]).toBe(0);
    expect(out[995]).toBe(255);
    expect(out[0]).toBe(0);
    expect(out[999]).toBe(255);
    expect(out[500]).toBeGreaterThan(100);
    expect(out[500]).toBeLessThan(155);
  });

  it('masks and sign-extends stored bits; swaps big-endian words', () => {
    // 12 bits stored in 16: 0xF800 keeps 0x800, which is -2048 when signed.
    const le = Uint8Array.from([0x00, 0xf8, 0xff, 0x07]);
    expect(Array.from(storedValues(le, 2, 16, 12, true))).toEqual([-2048, 2047]);
    expect(Array.from(storedValues(le, 2, 16, 12, false))).toEqual([2048, 2047]);
    expect(Array.from(swap16(Uint8Array.from([1, 2, 3, 4])))).toEqual([2, 1, 4, 3]);
  });

  it("reads a codestream's declared size without decoding it (JPEG SOFn, JPEG-LS SOF55, JPEG 2000 SIZ bare or in a JP2 box)", () => {
    // SOI, APP0 (length 4), a fill byte, SOF3 (lossless): P 16, Y 300, X 200, Nf 1.
    const jpeg = Uint8Array.from([
      0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x00, 0x00, 0xff, 0xff, 0xc3, 0x00, 0x0b, 16, 0x01, 0x2c, 0x00, 0xc8, 0x01, 1,
      0x11, 0,
    ]);
    expect(codestreamSize('jpeg-lossless', jpeg)).toEqual({ width: 200, height: 300, components: 1 });
    const ls = jpeg.slice();
    ls[10] = 0xf7;
    expect(codestreamSize('jpeg-ls', ls)).toEqual({ width: 200, height: 300, components: 1 });
    // SOC, SIZ: Xsiz 1000, Ysiz 800, XOsiz 10, YOsiz 0, tiles, Csiz 3.
    const siz = new Uint8Array(42);
    const dv = new DataView(siz.buffer);
    siz.set([0xff, 0x4f, 0xff, 0x51]);
    dv.setUint16(4, 41);
    dv.setUint32(8, 1000);
    dv.setUint32(12, 800);
    dv.setUint32(16, 10);
    dv.setUint16(40, 3);
    expect(codestreamSize('jpeg-2000', siz)).toEqual({ width: 990, height: 800, components: 3 });
    const box = (type: string, body: Uint8Array) => {
      const b = new Uint8Array(8 + body.length);
      new DataView(b.buffer).setUint32(0, b.length);
      b.set(Buffer.from(type, 'latin1'), 4);
      b.set(body, 8);
      return b;
    };
    const jp2 = Buffer.concat([
      box('jP  ', Uint8Array.from([0x0d, 0x0a, 0x87, 0x0a])),
      box('ftyp', new Uint8Array(12)),
      box('jp2c', siz),
    ]);
    expect(codestreamSize('jpeg-2000', jp2)).toEqual({ width: 990, height: 800, components: 3 });
    expect(codestreamSize('jpeg-2000', jpeg)).toBeUndefined();
    expect(codestreamSize('jpeg-baseline', siz)).toBeUndefined();
    expect(pixelBytes({ rows: 3, columns: 3, samplesPerPixel: 1, frames: 1, bitsAllocated: 8 })).toBe(10);
    expect(pixelBytes({ rows: 512, columns: 512, samplesPerPixel: 1, frames: 2, bitsAllocated: 16 })).toBe(1_048_576);
  });

  it('flags views, body parts and modalities the model was not trained on', () => {
    expect(headerFlags({ viewPosition: 'PA', bodyPart: 'CHEST', modality: 'CR' })).toEqual([]);
    expect(headerFlags({ viewPosition: 'RL' })).toEqual(['lateral view']);
    expect(headerFlags({ bodyPart: 'abdomen', modality: 'MR' })).toEqual([
      'body part ABDOMEN (not CHEST)',
      'modality MR (not CR/DX)',
    ]);
  });
});

describe('input quality guard (every format)', () => {
  it('a 1×1 image and a flat grey PNG are not usable radiographs; a real X-ray is', async () => {
    const tiny = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#808080' } })
      .png()
      .toBuffer();
    const flat = await sharp({ create: { width: 512, height: 512, channels: 3, background: '#7f7f7f' } })
      .png()
      .toBuffer();
    await expect(decodeInput(tiny)).rejects.toThrow(/not a usable radiograph: 1×1 px, under the 128 px minimum/);
    await expect(decodeInput(flat)).rejects.toThrow(
      /not a usable radiograph: near-constant image \(pixel standard deviation 0\.00/,
    );
    await expect(decodeInput(jpeg)).resolves.toMatchObject({ format: 'jpeg' });
    const x = await decodeToRgb(jpeg);
    expect(qualityProblem(x, { minShortSide: 225, minStdDev: 0 })).toMatch(/224×224 px, under the 225 px/);
  });
});
