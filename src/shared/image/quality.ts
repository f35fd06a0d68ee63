/** Limits below which an image is not a usable radiograph, whatever its format. */
export interface QualityLimits {
  /** Shortest source side, in pixels (default 128). */
  minShortSide: number;
  /** Standard deviation of the model input's grey levels, 0-255 (default 4): below it the image is near-constant. */
  minStdDev: number;
}

export const DEFAULT_QUALITY: QualityLimits = { minShortSide: 128, minStdDev: 4 };

/** Mean and standard deviation of the grey level (channel mean) of interleaved RGB. Pure. */
export function greyStats(rgb: Uint8Array): { mean: number; std: number } {
  const n = rgb.length / 3;
  let sum = 0;
  let sq = 0;
  for (let i = 0; i < rgb.length; i += 3) {
    const g = (rgb[i] + rgb[i + 1] + rgb[i + 2]) / 3;
    sum += g;
    sq += g * g;
  }
  const mean = sum / n;
  return { mean, std: Math.sqrt(Math.max(0, sq / n - mean * mean)) };
}

/** Why an image is not a usable radiograph, or undefined when it is. Pure. */
export function qualityProblem(
  img: { width: number; height: number; rgb: Uint8Array },
  limits: QualityLimits = DEFAULT_QUALITY,
): string | undefined {
  const short = Math.min(img.width, img.height);
  if (short < limits.minShortSide)
    return `not a usable radiograph: ${img.width}×${img.height} px, under the ${limits.minShortSide} px minimum on the short side`;
  const { std } = greyStats(img.rgb);
  if (std < limits.minStdDev)
    return `not a usable radiograph: near-constant image (pixel standard deviation ${std.toFixed(2)} < ${limits.minStdDev})`;
  return undefined;
}
