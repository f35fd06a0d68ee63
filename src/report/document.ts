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
}

export interface GalleryItem {
  image: Buffer;
  mime: 'image/png' | 'image/jpeg';
  caption: string;
  tone: 'ok' | 'bad' | 'neutral';
}

/** A chart or picture after rendering: where it was written and how it is embedded. */
export interface RenderedImage {
  file: string;
  dataUri: string;
  alt: string;
}
