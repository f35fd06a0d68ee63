import dicomParser from 'dicom-parser';

/** A VOI LUT from the VOI LUT Sequence: entry i maps input value firstMapped + i. */
export interface VoiLut {
  firstMapped: number;
  bits: number;
  data: Uint16Array;
}

/** The attributes the decoder, flags and identity need; never patient attributes. */
export interface DicomHeader {
  transferSyntaxUid: string;
  sopClassUid: string;
  uids: { study?: string; series?: string; sop?: string };
  modality?: string;
  viewPosition?: string;
  bodyPart?: string;
  rows: number;
  columns: number;
  bitsAllocated: number;
  bitsStored: number;
  pixelRepresentation: number;
  samplesPerPixel: number;
  photometric: string;
  planarConfiguration: number;
  frames: number;
  rescaleSlope: number;
  rescaleIntercept: number;
  window?: { center: number; width: number };
  voiLutFunction?: string;
  voiLut?: VoiLut;
  hasPixelData: boolean;
}

type DataSet = dicomParser.DataSet;

const text = (ds: DataSet, tag: string): string | undefined => ds.string(tag)?.trim() || undefined;
const num = (ds: DataSet, tag: string, dflt: number): number => {
  const v = ds.floatString(tag);
  return v === undefined || !Number.isFinite(v) ? dflt : v;
};

/** Reads the header attributes from a parsed data set. */
export function readHeader(ds: DataSet): DicomHeader {
  const bitsAllocated = ds.uint16('x00280100') ?? 0;
  const center = ds.floatString('x00281050', 0);
  const width = ds.floatString('x00281051', 0);
  return {
    transferSyntaxUid: text(ds, 'x00020010') ?? '1.2.840.10008.1.2',
    sopClassUid: text(ds, 'x00080016') ?? text(ds, 'x00020002') ?? '',
    uids: { study: text(ds, 'x0020000d'), series: text(ds, 'x0020000e'), sop: text(ds, 'x00080018') },
    modality: text(ds, 'x00080060'),
    viewPosition: text(ds, 'x00185101'),
    bodyPart: text(ds, 'x00180015'),
    rows: ds.uint16('x00280010') ?? 0,
    columns: ds.uint16('x00280011') ?? 0,
    bitsAllocated,
    bitsStored: ds.uint16('x00280101') ?? bitsAllocated,
    pixelRepresentation: ds.uint16('x00280103') ?? 0,
    samplesPerPixel: ds.uint16('x00280002') ?? 1,
    photometric: text(ds, 'x00280004') ?? 'MONOCHROME2',
    planarConfiguration: ds.uint16('x00280006') ?? 0,
    frames: Math.max(1, Math.trunc(num(ds, 'x00280008', 1))),
    rescaleSlope: num(ds, 'x00281053', 1) || 1,
    rescaleIntercept: num(ds, 'x00281052', 0),
    ...(center !== undefined && width !== undefined && Number.isFinite(center) && width > 0
      ? { window: { center, width } }
      : {}),
    voiLutFunction: text(ds, 'x00281056')?.toUpperCase(),
    voiLut: readVoiLut(ds),
    hasPixelData: ds.elements.x7fe00010 !== undefined,
  };
}

/** The first item of the VOI LUT Sequence (0028,3010), when present and well-formed. */
function readVoiLut(ds: DataSet): VoiLut | undefined {
  const item = ds.elements.x00283010?.items?.[0]?.dataSet;
  const lutData = item?.elements.x00283006;
  if (!item || !lutData || !item.elements.x00283002) return undefined;
  const entries = item.uint16('x00283002', 0) || 65536;
  const firstRaw = item.uint16('x00283002', 1) ?? 0;
  const bits = item.uint16('x00283002', 2) ?? 16;
  // First Mapped is US or SS; read it as signed where modality values can be negative.
  const signed = (ds.uint16('x00280103') ?? 0) === 1 || num(ds, 'x00281052', 0) < 0;
  const firstMapped = signed && firstRaw > 0x7fff ? firstRaw - 0x10000 : firstRaw;
  const perEntry = lutData.length >= entries * 2 ? 2 : 1;
  const data = new Uint16Array(entries);
  for (let i = 0; i < entries; i++) {
    data[i] = perEntry === 2 ? (item.uint16('x00283006', i) ?? 0) : item.byteArray[lutData.dataOffset + i];
  }
  return { firstMapped, bits, data };
}
