/**
 * Stored values of one sample per pixel from little-endian 8- or 16-bit samples: keeps the low
 * `bitsStored` bits and sign-extends them when the pixel representation is signed. Pure.
 */
export function storedValues(bytes: Uint8Array, count: number, bitsPerSample: number, bitsStored: number, signed: boolean): Int32Array {
  const out = new Int32Array(count);
  const bits = Math.min(bitsStored, bitsPerSample);
  const mask = bits >= 32 ? -1 : (1 << bits) - 1;
  const sign = 1 << (bits - 1);
  const step = bitsPerSample > 8 ? 2 : 1;
  if (bytes.length < count * step) throw new RangeError(`pixel data holds ${bytes.length} bytes, a frame needs ${count * step}`);
  for (let i = 0; i < count; i++) {
    let v = step === 2 ? bytes[2 * i] | (bytes[2 * i + 1] << 8) : bytes[i];
    v &= mask;
    if (signed && v & sign) v -= 1 << bits;
    out[i] = v;
  }
  return out;
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
