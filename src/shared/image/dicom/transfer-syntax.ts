/** How the pixel data of a transfer syntax is stored and which codec reads it. */
export type PixelCodec =
  'native' | 'native-big-endian' | 'rle' | 'jpeg-baseline' | 'jpeg-lossless' | 'jpeg-ls' | 'jpeg-2000';

export interface TransferSyntax {
  uid: string;
  name: string;
  codec: PixelCodec;
}

const LIST: readonly TransferSyntax[] = [
  { uid: '1.2.840.10008.1.2', name: 'Implicit VR Little Endian', codec: 'native' },
  { uid: '1.2.840.10008.1.2.1', name: 'Explicit VR Little Endian', codec: 'native' },
  { uid: '1.2.840.10008.1.2.1.99', name: 'Deflated Explicit VR Little Endian', codec: 'native' },
  { uid: '1.2.840.10008.1.2.2', name: 'Explicit VR Big Endian', codec: 'native-big-endian' },
  { uid: '1.2.840.10008.1.2.5', name: 'RLE Lossless', codec: 'rle' },
  { uid: '1.2.840.10008.1.2.4.50', name: 'JPEG Baseline (Process 1)', codec: 'jpeg-baseline' },
  { uid: '1.2.840.10008.1.2.4.51', name: 'JPEG Extended (Process 2 & 4)', codec: 'jpeg-baseline' },
  { uid: '1.2.840.10008.1.2.4.57', name: 'JPEG Lossless (Process 14)', codec: 'jpeg-lossless' },
  { uid: '1.2.840.10008.1.2.4.70', name: 'JPEG Lossless (Process 14, SV1)', codec: 'jpeg-lossless' },
  { uid: '1.2.840.10008.1.2.4.80', name: 'JPEG-LS Lossless', codec: 'jpeg-ls' },
  { uid: '1.2.840.10008.1.2.4.81', name: 'JPEG-LS Near-Lossless', codec: 'jpeg-ls' },
  { uid: '1.2.840.10008.1.2.4.90', name: 'JPEG 2000 Lossless', codec: 'jpeg-2000' },
  { uid: '1.2.840.10008.1.2.4.91', name: 'JPEG 2000', codec: 'jpeg-2000' },
];

/** Syntaxes that are recognised but not decoded, so their failure names them. */
const UNSUPPORTED: Readonly<Record<string, string>> = {
  '1.2.840.10008.1.2.4.92': 'JPEG 2000 Part 2 Multi-component Lossless',
  '1.2.840.10008.1.2.4.93': 'JPEG 2000 Part 2 Multi-component',
  '1.2.840.10008.1.2.4.94': 'JPIP Referenced',
  '1.2.840.10008.1.2.4.95': 'JPIP Referenced Deflate',
  '1.2.840.10008.1.2.4.101': 'MPEG2 video (High Level)',
  '1.2.840.10008.1.2.4.103': 'MPEG-4 AVC/H.264 video (BD-compatible)',
  '1.2.840.10008.1.2.4.104': 'MPEG-4 AVC/H.264 video (2D)',
  '1.2.840.10008.1.2.4.105': 'MPEG-4 AVC/H.264 video (3D)',
  '1.2.840.10008.1.2.4.106': 'MPEG-4 AVC/H.264 video (stereo)',
  '1.2.840.10008.1.2.4.107': 'HEVC/H.265 video',
  '1.2.840.10008.1.2.4.108': 'HEVC/H.265 video (Main 10)',
  '1.2.840.10008.1.2.4.111': 'JPEG XL JPEG Recompression',
  '1.2.840.10008.1.2.6.1': 'RFC 2557 MIME encapsulation',
  '1.2.840.10008.1.2.6.2': 'XML encoding',
  '1.2.840.10008.1.2.1.98': 'Encapsulated Uncompressed Explicit VR Little Endian',
  '1.2.840.10008.1.2.4.52': 'JPEG Extended (Process 3 & 5, retired)',
  '1.2.840.10008.1.2.4.53': 'JPEG Spectral Selection, Non-Hierarchical (retired)',
  '1.2.840.10008.1.2.4.55': 'JPEG Full Progression, Non-Hierarchical (retired)',
  '1.2.840.10008.1.2.4.58': 'JPEG Lossless, Non-Hierarchical (Process 15, retired)',
  // GE's private syntax: an implicit VR little-endian data set whose pixel data is big-endian.
  '1.2.840.113619.5.2': 'GE private Implicit VR Little Endian with big-endian pixels',
  '1.2.840.10008.1.2.4.100': 'MPEG2 video',
  '1.2.840.10008.1.2.4.102': 'MPEG-4 video',
  '1.2.840.10008.1.2.4.201': 'HTJ2K Lossless',
  '1.2.840.10008.1.2.4.202': 'HTJ2K Lossless RPCL',
  '1.2.840.10008.1.2.4.203': 'HTJ2K',
  '1.2.840.10008.1.2.4.110': 'JPEG XL Lossless',
  '1.2.840.10008.1.2.4.112': 'JPEG XL',
};

const BY_UID = new Map(LIST.map((t) => [t.uid, t]));

export const SUPPORTED_TRANSFER_SYNTAXES: readonly TransferSyntax[] = LIST;

/** The supported syntax for a UID, or undefined. Pure. */
export function transferSyntax(uid: string): TransferSyntax | undefined {
  return BY_UID.get(uid);
}

/** A person's name for a transfer syntax UID, supported or not. Pure. */
export function transferSyntaxName(uid: string): string {
  return BY_UID.get(uid)?.name ?? UNSUPPORTED[uid] ?? 'unknown transfer syntax';
}

/** The one-line reason an object in an unsupported syntax fails: its UID and its name. Pure. */
export function unsupportedSyntaxReason(uid: string): string {
  return `DICOM transfer syntax ${uid} (${transferSyntaxName(uid)}) is not supported`;
}
