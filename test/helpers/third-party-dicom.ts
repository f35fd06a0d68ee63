import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import dicomParser from 'dicom-parser';
import sharp from 'sharp';
import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';

// DICOM files written by DCMTK and GDCM (the tools PACS and modalities are built on), made in the test from a
// dataset JPEG: img2dcm encapsulates it, dcmdjpeg decompresses it, dcmconv/dcmc*/gdcmconv re-encode it.
// The tools come from Debian's dcmtk and libgdcm-tools (.ci/run installs them).

export const DICOM_TOOLS = ['img2dcm', 'dcmdjpeg', 'dcmconv', 'dcmcrle', 'dcmcjpeg', 'dcmcjpls', 'gdcmconv'] as const;

/** Why the third-party fixtures cannot be made here (the tools that are missing), or undefined. */
export function dicomToolsMissing(): string | undefined {
  const missing = DICOM_TOOLS.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  return missing.length
    ? `DCMTK/GDCM tools missing (${missing.join(', ')}): apt-get install -y dcmtk libgdcm-tools`
    : undefined;
}

export interface ThirdPartyDicom {
  /** e.g. 'dcmtk big-endian (grey)'. */
  name: string;
  bytes: Uint8Array;
  lossless: boolean;
}

export interface ThirdPartySet {
  /** Native Explicit VR Little Endian, decompressed by dcmdjpeg: the pixels every lossless variant must give. */
  reference: ThirdPartyDicom;
  /** Every decodable variant, the reference included. */
  variants: ThirdPartyDicom[];
  /** Explicit VR Big Endian with 8-bit samples (dcmconv +tb): pixel data in 16-bit words. */
  bigEndian8: ThirdPartyDicom;
  /** GE's private "Implicit VR Little Endian, big-endian pixels" syntax (dcmconv +tg). */
  gePrivate: ThirdPartyDicom;
}

/** Converts with each tool in a scratch folder; `colour` keeps the JPEG's three components (RGB), else grey. */
export async function makeThirdPartyDicoms(jpeg: Uint8Array, colour = false): Promise<ThirdPartySet> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cxr-dcmtk-'));
  const tag = colour ? 'RGB' : 'grey';
  try {
    const src = path.join(dir, 'src.jpg');
    writeFileSync(src, colour ? jpeg : await sharp(jpeg).toColourspace('b-w').jpeg({ quality: 95 }).toBuffer());
    const f = (name: string) => path.join(dir, `${name}.dcm`);
    const run = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    run('img2dcm', '-k', 'Modality=CR', '-k', 'BodyPartExamined=CHEST', '-k', 'ViewPosition=PA', src, f('baseline'));
    run('dcmdjpeg', f('baseline'), f('le'));
    const steps: [name: string, lossless: boolean, cmd: string, ...args: string[]][] = [
      ['dcmtk implicit VR little endian', true, 'dcmconv', '+ti'],
      ['dcmtk explicit VR big endian', true, 'dcmconv', '+tb'],
      ['dcmtk deflated', true, 'dcmconv', '+td'],
      ['dcmtk GE private syntax', true, 'dcmconv', '+tg'],
      ['dcmtk RLE', true, 'dcmcrle'],
      ['dcmtk JPEG lossless SV1', true, 'dcmcjpeg', '+e1'],
      ['dcmtk JPEG lossless process 14 (SV6)', true, 'dcmcjpeg', '+el', '+sv', '6'],
      ['dcmtk JPEG-LS lossless', true, 'dcmcjpls'],
      ['gdcm implicit VR little endian', true, 'gdcmconv', '-M'],
      ['gdcm deflated', true, 'gdcmconv', '-d'],
      ['gdcm RLE', true, 'gdcmconv', '-R'],
      ['gdcm JPEG lossless', true, 'gdcmconv', '-J'],
      ['gdcm JPEG-LS lossless', true, 'gdcmconv', '-L'],
      ['gdcm JPEG 2000 lossless', true, 'gdcmconv', '-K'],
    ];
    const read = (file: string) => new Uint8Array(readFileSync(file));
    const reference = { name: `dcmtk explicit VR little endian (${tag})`, bytes: read(f('le')), lossless: true };
    const all: ThirdPartyDicom[] = [
      reference,
      { name: `dcmtk JPEG baseline, img2dcm (${tag})`, bytes: read(f('baseline')), lossless: false },
    ];
    for (const [i, [name, lossless, cmd, ...args]] of steps.entries()) {
      run(cmd, ...args, f('le'), f(`v${i}`));
      all.push({ name: `${name} (${tag})`, bytes: read(f(`v${i}`)), lossless });
    }
    const byName = (prefix: string) => all.find((v) => v.name.startsWith(prefix))!;
    const gePrivate = byName('dcmtk GE private');
    return {
      reference,
      variants: all.filter((v) => v !== gePrivate),
      bigEndian8: byName('dcmtk explicit VR big endian'),
      gePrivate,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A deflate bomb in a DCMTK-written deflated file: its own file meta and header (a 224×224 8-bit frame, so
 * about 50 KB of pixel data), then a Pixel Data element that inflates to `inflatedBytes` of zeros. The
 * stream is sync-flushed 1 MiB chunks, each deflated once: about 1 KB of output per MiB inflated.
 */
export function deflateBomb(
  deflatedFile: Uint8Array,
  inflatedBytes = 1024 * 1024 * 1024,
  where: 'pixel data' | 'before pixel data' = 'pixel data',
): Uint8Array {
  const meta = dicomParser.readPart10Header(deflatedFile) as dicomParser.DataSet & { position: number };
  const header = inflateRawSync(deflatedFile.subarray(meta.position));
  // The data set up to its Pixel Data element (7FE0,0010), whose header (OW, 4-byte length) is rewritten.
  const at = Buffer.from(header).indexOf(Buffer.from([0xe0, 0x7f, 0x10, 0x00]));
  if (at < 0) throw new Error('the template has no pixel data');
  // 'before pixel data': a private OB element (0029,1010) takes the zeros, and the data set ends there.
  const element = Buffer.from(
    where === 'pixel data'
      ? [0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x57, 0, 0, 0, 0, 0, 0]
      : [0x29, 0x00, 0x10, 0x10, 0x4f, 0x42, 0, 0, 0, 0, 0, 0],
  );
  element.writeUInt32LE(inflatedBytes, 8);
  const sync = { finishFlush: constants.Z_SYNC_FLUSH };
  const parts: Uint8Array[] = [
    deflatedFile.subarray(0, meta.position),
    deflateRawSync(Buffer.concat([header.subarray(0, at), element]), sync),
  ];
  const MiB = 1024 * 1024;
  const chunk = deflateRawSync(Buffer.alloc(MiB), { ...sync, level: 9 });
  for (let n = 0; n < inflatedBytes; n += MiB)
    parts.push(n + MiB <= inflatedBytes ? chunk : deflateRawSync(Buffer.alloc(inflatedBytes - n), sync));
  parts.push(deflateRawSync(Buffer.alloc(0))); // the final block
  return new Uint8Array(Buffer.concat(parts));
}
