/**
 * Stored values of one sample per pixel from little-endian 8- or 16-bit samples: keeps the low
 * `bitsStored` bits and sign-extends them when the pixel representation is signed. Pure.
 */
export function storedValues(
  bytes: Uint8Array,
  count: number,
  bitsPerSample: number,
  bitsStored: number,
  signed: boolean,
): Int32Array {
  const out = new Int32Array(count);
  const bits = Math.min(bitsStored, bitsPerSample);
  const mask = bits >= 32 ? -1 : (1 << bits) - 1;
  const sign = 1 << (bits - 1);
  const step = bitsPerSample > 8 ? 2 : 1;
  if (bytes.length < count * step)
    throw new RangeError(`pixel data holds ${bytes.length} bytes, a frame needs ${count * step}`);
  // Typed views read the samples far faster than byte arithmetic (the host is little-endian, as DICOM's data is here).
  if (step === 1) return maskSamples(bytes, out, count, mask, signed ? sign : 0, bits);
  if (LITTLE_ENDIAN_HOST) return maskSamples16(u16View(bytes, count), out, count, mask, signed ? sign : 0, bits);
  for (let i = 0; i < count; i++) {
    let v = (bytes[2 * i] | (bytes[2 * i + 1] << 8)) & mask;
    if (signed && v & sign) v -= 1 << bits;
    out[i] = v;
  }
  return out;
}

// One loop per array type keeps each monomorphic (a shared one runs several times slower).
function maskSamples(
  src: Uint8Array,
  out: Int32Array,
  count: number,
  mask: number,
  sign: number,
  bits: number,
): Int32Array {
  for (let i = 0; i < count; i++) {
    const v = src[i] & mask;
    out[i] = sign && v & sign ? v - (1 << bits) : v;
  }
  return out;
}

function maskSamples16(
  src: Uint16Array,
  out: Int32Array,
  count: number,
  mask: number,
  sign: number,
  bits: number,
): Int32Array {
  for (let i = 0; i < count; i++) {
    const v = src[i] & mask;
    out[i] = sign && v & sign ? v - (1 << bits) : v;
  }
  return out;
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function u16View(bytes: Uint8Array, count: number): Uint16Array {
  const b = bytes.byteOffset % 2 === 0 ? bytes : bytes.slice(0, count * 2);
  return new Uint16Array(b.buffer, b.byteOffset, count);
}

/** Swaps the bytes of 16-bit samples (Explicit VR Big Endian) into a new array. Pure. */
export function swap16(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i + 1 < bytes.length; i += 2) {
    out[i] = bytes[i + 1];
    out[i + 1] = bytes[i];
  }
  return out;
}
