/** True when the bytes are a DICOM Part 10 file: 'DICM' at offset 128, whatever the object's name. Pure. */
export function isDicom(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d
  );
}
