import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { deflateRawSync } from 'node:zlib';
import sharp from 'sharp';

// Writes DICOM test objects from a real X-ray with dcmjs, each transfer syntax encoded by a codec
// package's own encoder: Cornerstone's libjpeg-turbo, CharLS and OpenJPEG builds, and dcmjs-codecs
// (DCMTK RLE, IJG lossless JPEG) where Cornerstone ships no encoder. Used by the tests and the bench.

const require = createRequire(import.meta.url);

/** Identifying attributes every fixture carries; none may appear in a run's outputs or logs. */
export const IDENTIFYING = {
  PatientName: 'Quixote^Dulcinea^Maria',
  PatientID: 'PID-88317-QZ',
  PatientBirthDate: '19470813',
  PatientAddress: '17 Rue Vieille du Temple',
  OtherPatientIDs: 'OPID-55120-KX',
  InstitutionName: 'Hopital Saint Zephyrin',
  ReferringPhysicianName: 'Marlowe^Philippa',
  AccessionNumber: 'ACC7730915',
} as const;

export interface DicomFixture {
  name: string;
  /** Key suffix: .dcm, .dicom, none, or a misleading one (content decides). */
  file: string;
  syntax: string;
  bytes: Uint8Array;
  uids: { study: string; series: string; sop: string };
  /** Largest per-pixel difference from the source image allowed for this syntax (0 = lossless). */
  tolerance: number;
  flags: string[];
  frames: number;
}

export interface FailingFixture {
  name: string;
  file: string;
  bytes: Uint8Array;
  reason: RegExp;
}

const TS = {
  implicit: '1.2.840.10008.1.2',
  explicit: '1.2.840.10008.1.2.1',
  deflate: '1.2.840.10008.1.2.1.99',
  bigEndian: '1.2.840.10008.1.2.2',
  rle: '1.2.840.10008.1.2.5',
  baseline: '1.2.840.10008.1.2.4.50',
  extended: '1.2.840.10008.1.2.4.51',
  lossless14: '1.2.840.10008.1.2.4.57',
  losslessSv1: '1.2.840.10008.1.2.4.70',
  jpegLs: '1.2.840.10008.1.2.4.80',
  jpegLsNear: '1.2.840.10008.1.2.4.81',
  j2kLossless: '1.2.840.10008.1.2.4.90',
  j2k: '1.2.840.10008.1.2.4.91',
  htj2k: '1.2.840.10008.1.2.4.201',
} as const;

const DX = '1.2.840.10008.5.1.4.1.1.1.1';
const uid = () => `2.25.${BigInt('0x' + randomBytes(15).toString('hex')).toString()}`;

interface Pixels {
  width: number;
  height: number;
  /** 8-bit grey, row-major. */
  grey: Uint8Array;
}

/** The source X-ray as 8-bit grey pixels (what every fixture stores, transformed as its header says); `resize` for benches. */
export async function sourceGrey(jpeg: Uint8Array, resize?: { width: number; height: number }): Promise<Pixels> {
  const img = resize ? sharp(jpeg).resize(resize.width, resize.height, { fit: 'fill' }) : sharp(jpeg);
  const { data, info } = await img.toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, grey: new Uint8Array(data) };
}

interface Dcmjs {
  data: {
    DicomDict: new (meta: object) => { dict: Record<string, { vr: string }>; write(opts?: object): ArrayBuffer };
    DicomMetaDictionary: { denaturalizeDataset(ds: object): Record<string, { vr: string }> };
  };
  log: { setLevel(level: string): void };
}

type Attrs = Record<string, unknown>;

/** A Part 10 file; pixel data is one buffer (native) or one fragment per frame (encapsulated). */
function writePart10(ts: string, attrs: Attrs, pixelData: ArrayBuffer[] | undefined, vr: 'OB' | 'OW'): Uint8Array {
  const dcmjs = require('dcmjs') as Dcmjs;
  dcmjs.log.setLevel('error');
  const sopClass = (attrs.SOPClassUID as string) ?? DX;
  const sop = attrs.SOPInstanceUID as string;
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: sopClass,
    MediaStorageSOPInstanceUID: sop,
    TransferSyntaxUID: ts,
    ImplementationClassUID: '2.25.1',
  };
  const dict = new dcmjs.data.DicomDict(dcmjs.data.DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = dcmjs.data.DicomMetaDictionary.denaturalizeDataset({
    SOPClassUID: sopClass,
    ...attrs,
    ...(pixelData ? { PixelData: pixelData, _vrMap: { PixelData: vr } } : {}),
  });
  if (pixelData) dict.dict['7FE00010'].vr = vr;
  return new Uint8Array(dict.write({ fragmentMultiframe: false }));
}

/** Deflated Explicit VR Little Endian: the data set after the file meta group, raw-deflated. */
function deflate(explicit: Uint8Array): Uint8Array {
  const metaLength = new DataView(explicit.buffer, explicit.byteOffset).getUint32(132 + 8, true);
  const end = 132 + 12 + metaLength;
  const body = deflateRawSync(explicit.subarray(end));
  const out = new Uint8Array(end + body.length);
  out.set(explicit.subarray(0, end));
  out.set(body, end);
  return out;
}

interface DcmjsCodecs {
  NativeCodecs: { initializeAsync(o?: object): Promise<void>; isInitialized(): boolean };
  Transcoder: new (b: ArrayBuffer) => { transcode(ts: string, opts?: object): void; getDicomPart10(): ArrayBuffer };
}

async function transcode(explicit: Uint8Array, ts: string): Promise<Uint8Array> {
  const { NativeCodecs, Transcoder } = require('dcmjs-codecs') as DcmjsCodecs;
  if (!NativeCodecs.isInitialized()) await NativeCodecs.initializeAsync();
  const t = new Transcoder(explicit.slice().buffer);
  t.transcode(ts);
  return new Uint8Array(t.getDicomPart10());
}

interface WasmEncoder {
  getDecodedBuffer(info: object): Uint8Array;
  encode(): void;
  getEncodedBuffer(): Uint8Array;
  delete(): void;
  setQuality?(...a: unknown[]): void;
  setNearLossless?(n: number): void;
  setCompressionRatio?(layer: number, ratio: number): void;
}

async function cornerstoneEncode(
  pkg: string,
  cls: string,
  p: Pixels,
  configure?: (e: WasmEncoder) => void,
): Promise<ArrayBuffer> {
  const m = (await (require(pkg) as () => Promise<Record<string, new () => WasmEncoder>>)()) as Record<
    string,
    new () => WasmEncoder
  >;
  const e = new m[cls]();
  try {
    e.getDecodedBuffer({
      width: p.width,
      height: p.height,
      bitsPerSample: 8,
      componentCount: 1,
      isSigned: false,
      isUsingColorSpace: false,
    }).set(p.grey);
    configure?.(e);
    e.encode();
    return e.getEncodedBuffer().slice().buffer;
  } finally {
    e.delete();
  }
}

const image = (p: Pixels, bits: 8 | 16, stored: number) => ({
  Rows: p.height,
  Columns: p.width,
  BitsAllocated: bits,
  BitsStored: stored,
  HighBit: stored - 1,
  PixelRepresentation: 0,
  SamplesPerPixel: 1,
});

/** 8-bit MONOCHROME2 with a window that maps stored values to themselves. */
const identityWindow = { WindowCenter: 128, WindowWidth: 256 };

/** 12-bit stored 16·P with intercept -1024; the window maps it back to P exactly. */
function twelveBit(p: Pixels): { stored: Uint16Array; attrs: Attrs } {
  const stored = new Uint16Array(p.grey.length);
  for (let i = 0; i < stored.length; i++) stored[i] = p.grey[i] * 16;
  return {
    stored,
    attrs: { ...image(p, 16, 12), RescaleSlope: 1, RescaleIntercept: -1024, WindowCenter: 1016.5, WindowWidth: 4081 },
  };
}

/** The DICOM variants of one X-ray, and objects that must fail with a named reason. */
export async function makeDicomFixtures(
  jpeg: Uint8Array,
  resize?: { width: number; height: number },
): Promise<{ source: Pixels; fixtures: DicomFixture[]; failing: FailingFixture[] }> {
  const p = await sourceGrey(jpeg, resize);
  const study = uid();
  const series = uid();
  const fixtures: DicomFixture[] = [];
  const base = (extra: Attrs = {}) => {
    const sop = uid();
    return {
      uids: { study, series, sop },
      attrs: {
        ...IDENTIFYING,
        StudyInstanceUID: study,
        SeriesInstanceUID: series,
        SOPInstanceUID: sop,
        Modality: 'DX',
        BodyPartExamined: 'CHEST',
        ViewPosition: 'PA',
        PhotometricInterpretation: 'MONOCHROME2',
        ...extra,
      },
    };
  };
  const add = (
    name: string,
    file: string,
    syntax: string,
    tolerance: number,
    make: (a: Attrs) => Uint8Array | Promise<Uint8Array>,
    extra: Attrs = {},
    flags: string[] = [],
    frames = 1,
  ) =>
    (async () => {
      const { uids, attrs } = base(extra);
      fixtures.push({ name, file, syntax, bytes: await make(attrs), uids, tolerance, flags, frames });
    })();
  const native8 = (ts: string) => (a: Attrs) =>
    writePart10(ts, { ...a, ...image(p, 8, 8), ...identityWindow }, [p.grey.slice().buffer], 'OB');
  const t12 = twelveBit(p);
  const native12 = (a: Attrs) => writePart10(TS.explicit, { ...a, ...t12.attrs }, [t12.stored.slice().buffer], 'OW');
  const encapsulated8 = (ts: string, frame: () => Promise<ArrayBuffer>) => async (a: Attrs) =>
    writePart10(ts, { ...a, ...image(p, 8, 8), ...identityWindow }, [await frame()], 'OB');
  const jpegBaseline = () =>
    cornerstoneEncode('@cornerstonejs/codec-libjpeg-turbo-8bit/wasmjs', 'JPEGEncoder', p, (e) => e.setQuality?.(95));

  await add('explicit-le', '.dcm', TS.explicit, 0, native8(TS.explicit));
  await add('implicit-le', '', TS.implicit, 0, (a) => transcode(native8(TS.explicit)(a), TS.implicit));
  await add('deflate', '.dicom', TS.deflate, 0, (a) => deflate(native8(TS.deflate)(a)));
  await add('explicit-be-12bit', '.dcm', TS.bigEndian, 0, (a) => transcode(native12(a), TS.bigEndian));
  await add('twelve-bit-rescale-window', '.dcm', TS.explicit, 0, native12);
  await add('rle-12bit', '.dcm', TS.rle, 0, (a) => transcode(native12(a), TS.rle));
  await add('jpeg-lossless-sv1-12bit', '.dcm', TS.losslessSv1, 0, (a) => transcode(native12(a), TS.losslessSv1));
  await add('jpeg-lossless-p14', '', TS.lossless14, 0, async (a) =>
    relabel(await transcode(native12(a), TS.losslessSv1), TS.losslessSv1, TS.lossless14),
  );
  await add('jpeg-baseline', '.dcm', TS.baseline, 8, encapsulated8(TS.baseline, jpegBaseline));
  await add('jpeg-extended', '.jpg', TS.extended, 8, encapsulated8(TS.extended, jpegBaseline));
  await add(
    'jpeg-ls',
    '.dcm',
    TS.jpegLs,
    0,
    encapsulated8(TS.jpegLs, () => cornerstoneEncode('@cornerstonejs/codec-charls/wasmjs', 'JpegLSEncoder', p)),
  );
  await add(
    'jpeg-ls-near',
    '.dcm',
    TS.jpegLsNear,
    2,
    encapsulated8(TS.jpegLsNear, () =>
      cornerstoneEncode('@cornerstonejs/codec-charls/wasmjs', 'JpegLSEncoder', p, (e) => e.setNearLossless?.(2)),
    ),
  );
  await add(
    'j2k-lossless',
    '.dcm',
    TS.j2kLossless,
    0,
    encapsulated8(TS.j2kLossless, () => cornerstoneEncode('@cornerstonejs/codec-openjpeg/wasmjs', 'J2KEncoder', p)),
  );
  await add(
    'j2k-lossy',
    '.dicom',
    TS.j2k,
    8,
    encapsulated8(TS.j2k, () =>
      cornerstoneEncode('@cornerstonejs/codec-openjpeg/wasmjs', 'J2KEncoder', p, (e) => {
        e.setQuality?.(false, 0);
        e.setCompressionRatio?.(0, 8);
      }),
    ),
  );
  await add('monochrome1', '.dcm', TS.explicit, 0, (a) =>
    writePart10(
      TS.explicit,
      { ...a, ...image(p, 8, 8), ...identityWindow, PhotometricInterpretation: 'MONOCHROME1' },
      [p.grey.map((v) => 255 - v).buffer],
      'OB',
    ),
  );
  await add('voi-lut-sequence', '.dcm', TS.explicit, 0, (a) =>
    writePart10(TS.explicit, { ...a, ...voiLutAttrs(t12.attrs) }, [t12.stored.slice().buffer], 'OW'),
  );
  await add(
    'multi-frame',
    '.dcm',
    TS.explicit,
    0,
    (a) =>
      writePart10(
        TS.explicit,
        { ...a, ...image(p, 8, 8), ...identityWindow, NumberOfFrames: 2 },
        [
          concat(
            p.grey,
            p.grey.map((v) => 255 - v),
          ).buffer,
        ],
        'OB',
      ),
    {},
    [],
    2,
  );
  await add(
    'lateral',
    '',
    TS.jpegLs,
    0,
    encapsulated8(TS.jpegLs, () => cornerstoneEncode('@cornerstonejs/codec-charls/wasmjs', 'JpegLSEncoder', p)),
    { ViewPosition: 'LL' },
    ['lateral view'],
  );
  await add('skull-ct', '.dcm', TS.explicit, 0, native8(TS.explicit), { BodyPartExamined: 'SKULL', Modality: 'CT' }, [
    'body part SKULL (not CHEST)',
    'modality CT (not CR/DX)',
  ]);

  const failing: FailingFixture[] = [];
  const pdf = base({
    SOPClassUID: '1.2.840.10008.5.1.4.1.1.104.1',
    MIMETypeOfEncapsulatedDocument: 'application/pdf',
    Modality: 'DOC',
  });
  failing.push({
    name: 'encapsulated-pdf',
    file: '.dcm',
    bytes: writePart10(TS.explicit, { ...pdf.attrs, SOPClassUID: '1.2.840.10008.5.1.4.1.1.104.1' }, undefined, 'OB'),
    reason: /encapsulated document .*not an image/,
  });
  const ht = base();
  failing.push({
    name: 'htj2k',
    file: '.dcm',
    bytes: writePart10(
      TS.htj2k,
      { ...ht.attrs, ...image(p, 8, 8) },
      [new Uint8Array([0xff, 0x4f, 0xff, 0x51]).buffer],
      'OB',
    ),
    reason: /transfer syntax 1\.2\.840\.10008\.1\.2\.4\.201 \(HTJ2K Lossless\) is not supported/,
  });
  const cut = fixtures[0].bytes;
  failing.push({ name: 'truncated', file: '.dcm', bytes: cut.subarray(0, cut.length - 4000), reason: /corrupt DICOM/ });
  return { source: p, fixtures, failing };
}

/** VOI LUT Sequence mapping modality values 16·P - 1024 back to P (16-bit entries, P·257). */
function voiLutAttrs(attrs: Attrs): Attrs {
  const { WindowCenter: _c, WindowWidth: _w, ...rest } = attrs;
  const data = new Uint16Array(4096);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(i / 16) * 257;
  return {
    ...rest,
    VOILUTSequence: [
      {
        LUTDescriptor: [4096, -1024 & 0xffff, 16],
        LUTData: Array.from(data),
        _vrMap: { LUTData: 'US', LUTDescriptor: 'US' },
      },
    ],
  };
}

/** The same file under another (compatible) transfer syntax UID: an SV1 stream is a process 14 stream. */
function relabel(bytes: Uint8Array, from: string, to: string): Uint8Array {
  const text = Buffer.from(bytes).toString('latin1');
  const at = text.indexOf(from);
  if (at < 0 || at > 400) throw new Error('transfer syntax UID not found in the meta group');
  const out = bytes.slice();
  // Both UIDs pad to the same even length in their elements.
  if (Math.ceil(from.length / 2) !== Math.ceil(to.length / 2)) throw new Error('UIDs differ in padded length');
  out.set(Buffer.from(to.padEnd(Math.ceil(from.length / 2) * 2, '\0'), 'latin1'), at);
  return out;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
