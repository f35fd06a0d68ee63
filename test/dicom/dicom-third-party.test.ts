import { readFileSync } from 'node:fs';
import dicomParser from 'dicom-parser';
import { beforeAll, describe, expect, it } from 'vitest';
import { ImageDecodeError } from '../../src/shared/image/decode.js';
import { decodeDicom } from '../../src/shared/image/dicom/decode-dicom.js';
import { datasetFiles } from '../helpers/dataset.js';
import {
  deflateBomb,
  dicomToolsMissing,
  makeThirdPartyDicoms,
  type ThirdPartySet,
} from '../helpers/third-party-dicom.js';

// DICOM written by DCMTK and GDCM rather than by this project's own fixture writer (dcmjs): every lossless
// syntax must give the same pixels, whatever tool wrote it.
const missing = dicomToolsMissing();

if (missing) console.warn(`SKIPPED third-party DICOM tests: ${missing}`);

const jpeg = readFileSync(datasetFiles('NORMAL', 1, 2)[0]);
const MiB = 1024 * 1024;

function maxDiff(a: Uint8Array, b: Uint8Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

const reason = (p: Promise<unknown>) =>
  p.then(
    () => 'decoded',
    (e: unknown) => (e instanceof ImageDecodeError ? e.reason : `NOT an ImageDecodeError: ${String(e)}`),
  );

describe.skipIf(!!missing)('DICOM written by DCMTK and GDCM', () => {
  let sets: ThirdPartySet[];

  beforeAll(async () => {
    sets = [await makeThirdPartyDicoms(jpeg), await makeThirdPartyDicoms(jpeg, true)];
  }, 120_000);

  it('every lossless syntax, from either tool, decodes to the same pixels (grey and RGB); the encapsulated JPEG to within 8', async () => {
    const rows: string[] = [];
    for (const set of sets) {
      const ref = (await decodeDicom(set.reference.bytes)).rgb;
      for (const v of set.variants) {
        const d = await decodeDicom(v.bytes);
        const diff = maxDiff(d.rgb, ref);
        rows.push(`${v.name.padEnd(52)} ${d.dicom.transferSyntax.padEnd(36)} max |Δ| ${diff}`);
        expect(diff, v.name).toBeLessThanOrEqual(v.lossless ? 0 : 8);
      }
    }
    console.log(rows.join('\n'));
    expect(rows.length).toBeGreaterThanOrEqual(28);
  });

  it("Explicit VR Big Endian with 8-bit samples (16-bit OW words) decodes to the little-endian file's pixels", async () => {
    for (const set of sets) {
      const be = dicomParser.parseDicom(set.bigEndian8.bytes);
      const le = dicomParser.parseDicom(set.reference.bytes);
      const [bePx, lePx] = [be.elements.x7fe00010, le.elements.x7fe00010];
      // Not vacuous: the file really stores 8-bit samples as swapped words.
      expect([be.uint16('x00280100'), bePx.vr]).toEqual([8, 'OW']);
      const stored = (ds: dicomParser.DataSet, el: dicomParser.Element) =>
        ds.byteArray.subarray(el.dataOffset, el.dataOffset + 64);
      expect(Buffer.from(stored(be, bePx)).equals(Buffer.from(stored(le, lePx)))).toBe(false);
      expect(
        maxDiff((await decodeDicom(set.bigEndian8.bytes)).rgb, (await decodeDicom(set.reference.bytes)).rgb),
        set.bigEndian8.name,
      ).toBe(0);
    }
  });

  it("GE's private syntax fails as unsupported, named by UID and name (not as a corrupt file)", async () => {
    for (const set of sets) {
      expect(await reason(decodeDicom(set.gePrivate.bytes))).toBe(
        'DICOM transfer syntax 1.2.840.113619.5.2 (GE private Implicit VR Little Endian with big-endian pixels) is not supported',
      );
    }
  });

  it('a deflate bomb (1 MB that inflates to 1 GiB) fails alone with its numbers, and memory stays bounded', async () => {
    const deflated = sets[0].variants.find((v) => v.name.startsWith('dcmtk deflated'))!.bytes;
    const bomb = deflateBomb(deflated);
    const atPixels = await (async () => {
      const rssBefore = process.memoryUsage().rss;
      const r = await reason(decodeDicom(bomb));
      // The peak RSS of the process since it started bounds the decode's own peak from above.
      const growth = process.resourceUsage().maxRSS * 1024 - rssBefore;
      return { r, growth };
    })();
    console.log(
      `bomb of ${bomb.length} bytes (inflates to ${1024 * MiB}): ${atPixels.r}; peak RSS growth at most ${(Math.max(0, atPixels.growth) / MiB).toFixed(1)} MiB`,
    );
    expect(bomb.length).toBeLessThan(1.5 * MiB);
    expect(atPixels.r).toMatch(
      /^deflated pixel data inflates past 1,\d{3},\d{3} bytes \(224x224x1x1 x1 \+ \d[\d,]* header \+ 1,048,576 margin\)$/,
    );
    expect(atPixels.growth).toBeLessThan(128 * MiB);
    // The decoder still decodes the next object.
    expect(maxDiff((await decodeDicom(deflated)).rgb, (await decodeDicom(sets[0].reference.bytes)).rgb)).toBe(0);

    const early = deflateBomb(deflated, 1024 * MiB, 'before pixel data');
    expect(await reason(decodeDicom(early))).toBe(
      'deflated data set inflates past 67,108,864 bytes before its pixel data',
    );
  });
});
