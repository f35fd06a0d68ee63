import type { VlSpec, MetricRow } from './chart-specs.js';

/** Everything a report shows, before rendering. */
export interface ReportDoc {
  title: string;
  subtitle?: string;
  generatedAt: string;
  facts: [string, string][];
  alerts?: string[];
  metrics?: MetricRow[];
  charts: ChartItem[];
  galleries: Gallery[];
}

export interface ChartItem {
  /** File stem of the PNG, e.g. 'roc'. */
  name: string;
  spec: VlSpec;
}

export interface Gallery {
  title: string;
  note?: string;
  items: GalleryItem[];
  /** Shown instead of the pictures when there are none; without it an empty gallery is left out. */
  empty?: string;
}

export interface GalleryItem {
  image: Buffer;
  mime: 'image/png' | 'image/jpeg';
  /** Lines separated by \n. */
  caption: string;
  tone: 'ok' | 'bad' | 'neutral';
}

/** A chart or picture after rendering: where it was written and how it is embedded. */
export interface RenderedImage {
  file: string;
  dataUri: string;
  alt: string;
}
