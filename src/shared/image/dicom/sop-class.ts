/** Why an object without pixel data is not an image, named by its SOP class. Pure. */
export function notAnImageReason(sopClassUid: string): string {
  if (sopClassUid.startsWith('1.2.840.10008.5.1.4.1.1.104.'))
    return `encapsulated document (SOP class ${sopClassUid}), not an image`;
  if (sopClassUid.startsWith('1.2.840.10008.5.1.4.1.1.88.'))
    return `structured report (SOP class ${sopClassUid}), not an image`;
  if (sopClassUid.startsWith('1.2.840.10008.5.1.4.1.1.11.'))
    return `presentation state (SOP class ${sopClassUid}), not an image`;
  return `no pixel data (SOP class ${sopClassUid || 'unknown'}): not an image`;
}
