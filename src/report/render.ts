import sharp from 'sharp';
import * as vega from 'vega';
import { compile } from 'vega-lite';
import type { VlSpec } from './chart-specs.js';

/** Compiles a Vega-Lite spec and renders it headless to an SVG string. */
export async function renderSvg(spec: VlSpec): Promise<string> {
  const compiled = compile(spec as unknown as Parameters<typeof compile>[0]).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterizes an SVG with sharp at 2x for crisp charts. */
export function svgToPng(svg: string, density = 144): Promise<Buffer> {
  return sharp(Buffer.from(svg), { density }).png().toBuffer();
}

export async function renderPng(spec: VlSpec): Promise<Buffer> {
  return svgToPng(await renderSvg(spec));
}
