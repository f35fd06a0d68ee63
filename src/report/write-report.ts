import type { ReportDoc, RenderedImage } from './document.js';
import { renderHtml } from './html.js';
import { renderPng } from './render.js';
import type { ReportSink } from './sink.js';

const dataUri = (mime: string, bytes: Buffer) => `data:${mime};base64,${bytes.toString('base64')}`;

/** Renders the charts to PNG, writes them and the pictures beside index.html, and index.html with everything inlined. */
export async function writeReport(doc: ReportDoc, sink: ReportSink): Promise<{ index: string; files: string[] }> {
  const files: string[] = [];
  const put = async (name: string, body: Buffer | string, type: string) => {
    await sink.put(name, body, type);
    files.push(name);
  };
  const charts: RenderedImage[] = [];
  for (const c of doc.charts) {
    const png = await renderPng(c.spec);
    const file = `${c.name}.png`;
    await put(file, png, 'image/png');
    charts.push({
      file,
      dataUri: dataUri('image/png', png),
      alt: typeof c.spec.title === 'string' ? c.spec.title : c.name,
    });
  }
  const galleries = [];
  let n = 0;
  for (const g of doc.galleries) {
    const items = [];
    for (const item of g.items) {
      const file = `images/${String(++n).padStart(3, '0')}.${item.mime === 'image/png' ? 'png' : 'jpg'}`;
      await put(file, item.image, item.mime);
      items.push({
        file,
        dataUri: dataUri(item.mime, item.image),
        alt: item.caption.replace(/\n/g, ' · '),
        caption: item.caption,
        tone: item.tone,
      });
    }
    galleries.push({ title: g.title, note: g.note, empty: g.empty, items });
  }
  await put('index.html', renderHtml(doc, charts, galleries), 'text/html; charset=utf-8');
  return { index: sink.where('index.html'), files };
}
