import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeToRgb, ImageDecodeError } from '../../src/shared/image/decode.js';
import { caffePreprocess } from '../../src/model/preprocess.js';
import { DATASET } from '../helpers/dataset.js';

const xray = readFileSync(path.join(DATASET, 'NORMAL', 'IM-0115-0001.jpeg'));

describe('decodeToRgb', () => {
  it('decodes a real X-ray JPEG to 224x224 RGB', async () => {
    const d = await decodeToRgb(xray);
    expect(d.rgb.length).toBe(224 * 224 * 3);
    expect(d.format).toBe('jpeg');
  });

  it('refuses an image over the pixel limit before decoding it, giving its size and the limit', async () => {
    // 315 KB of PNG that would decode to 324 MB of RGB.
    const big = await sharp({ create: { width: 12000, height: 9000, channels: 3, background: '#000' } })
      .png({ compressionLevel: 9 })
      .toBuffer();
    await expect(decodeToRgb(big)).rejects.toThrow(ImageDecodeError);
    await expect(decodeToRgb(big)).rejects.toThrow(
      /^png image is 12000×9000 = 108,000,000 pixels, over the pixel limit of 100,000,000$/,
    );
  });

  it('reads 16-bit greyscale PNGs of any size', async () => {
    const png16 = await sharp(xray).resize(640, 480).toColourspace('grey16').png().toBuffer();
    expect((await sharp(png16).metadata()).depth).toBe('ushort');
    const d = await decodeToRgb(png16);
    expect(d.rgb.length).toBe(224 * 224 * 3);
    expect([d.width, d.height]).toEqual([640, 480]);
    const mean = d.rgb.reduce((s, v) => s + v, 0) / d.rgb.length;
    expect(mean).toBeGreaterThan(20);
    expect(mean).toBeLessThan(235);
    expect(d.rgb[0]).toBe(d.rgb[1]);
  });

  it('applies EXIF orientation', async () => {
    // Left half black, right half white; orientation 6 shows it turned 90° clockwise: white at the bottom.
    const raw = Buffer.alloc(40 * 20 * 3);
    for (let y = 0; y < 20; y++) for (let x = 20; x < 40; x++) raw.fill(255, (y * 40 + x) * 3, (y * 40 + x) * 3 + 3);
    const jpeg = await sharp(raw, { raw: { width: 40, height: 20, channels: 3 } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const d = await decodeToRgb(jpeg, 10);
    expect([d.width, d.height]).toEqual([20, 40]);
    expect(d.rgb[0]).toBeLessThan(30);
    expect(d.rgb[(9 * 10 + 5) * 3]).toBeGreaterThan(225);
  });

  it('gives a reason a person understands for bad input', async () => {
    await expect(decodeToRgb(new Uint8Array(0))).rejects.toThrow(new ImageDecodeError('empty object (0 bytes)'));
    await expect(decodeToRgb(Buffer.from('this is not an image'))).rejects.toThrow(/not a readable image/);
    await expect(decodeToRgb(xray.subarray(0, xray.length / 2))).rejects.toThrow(/corrupt jpeg data/);
  });
});

describe('caffePreprocess', () => {
  it('swaps to BGR and subtracts the ImageNet means', () => {
    const out = caffePreprocess(new Uint8Array([255, 0, 10]));
    expect(Array.from(out)).toEqual([10 - 103.939, 0 - 116.779, 255 - 123.68].map(Math.fround));
  });
});
