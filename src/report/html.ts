import type { ReportDoc, RenderedImage } from './document.js';

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const CSS = `
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1200px;color:#222;padding:0 16px}
h1{margin-bottom:4px}.sub{color:#666;margin-top:0}
table.facts td{padding:2px 12px 2px 0;vertical-align:top}table.facts td:first-child{color:#666}
table.metrics{border-collapse:collapse;margin:8px 0}table.metrics td,table.metrics th{border:1px solid #ddd;padding:4px 12px;text-align:left}
.alerts{background:#fdecea;border:1px solid #f5c2c0;padding:8px 16px;border-radius:6px}
.charts{display:flex;flex-wrap:wrap;gap:16px}.charts figure{margin:0}.charts img{max-width:100%;height:auto;border:1px solid #eee}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:12px}
.grid figure{margin:0;border:3px solid #ccc;border-radius:6px;overflow:hidden;background:#fff;align-self:start}
.grid figure.ok{border-color:#2ca02c}.grid figure.bad{border-color:#d62728}
.grid img{width:100%;height:auto;display:block;background:#000}
.grid figcaption{background:#fff;font-size:12px;padding:4px 6px;line-height:1.35;overflow-wrap:anywhere}.grid figcaption .key{color:#555;font-size:11px}
`;

/** The report page; every image is embedded as a data URI, so the file opens anywhere. Pure. */
/** A caption's lines; the key (first line) may also break after each '/' and '_' (and '-', as text does). */
function captionHtml(caption: string): string {
  const [key, ...rest] = caption.split('\n');
  const keyHtml = `<span class="key">${escapeHtml(key).replace(/[/_]/g, '$&<wbr>')}</span>`;
  return [keyHtml, ...rest.map(escapeHtml)].join('<br>');
}

export interface HtmlGallery {
  title: string;
  note?: string;
  empty?: string;
  items: (RenderedImage & { caption: string; tone: string })[];
}

export function renderHtml(doc: ReportDoc, charts: RenderedImage[], galleries: HtmlGallery[]): string {
  const e = escapeHtml;
  const facts = doc.facts.map(([k, v]) => `<tr><td>${e(k)}</td><td>${e(v)}</td></tr>`).join('');
  const alerts = doc.alerts?.length
    ? `<div class="alerts"><h2>Alerts</h2><ul>${doc.alerts.map((a) => `<li>${e(a)}</li>`).join('')}</ul></div>`
    : '';
  const metrics = doc.metrics?.length
    ? `<h2>Metrics</h2><table class="metrics"><tr><th>metric</th><th>value</th></tr>${doc.metrics.map((m) => `<tr><td>${e(m.metric)}</td><td>${e(m.value)}</td></tr>`).join('')}</table>`
    : '';
  const chartHtml = charts.length
    ? `<h2>Charts</h2><div class="charts">${charts.map((c) => `<figure><img class="chart" src="${c.dataUri}" alt="${e(c.alt)}" data-file="${e(c.file)}"></figure>`).join('')}</div>`
    : '';
  const galleryHtml = galleries
    .filter((g) => g.items.length || g.empty)
    .map((g) =>
      g.items.length
        ? `<h2>${e(g.title)}</h2>${g.note ? `<p>${e(g.note)}</p>` : ''}<div class="grid">${g.items
            .map(
              (i) =>
                `<figure class="${e(i.tone)}"><img class="xray" src="${i.dataUri}" alt="${e(i.alt)}" data-file="${e(i.file)}"><figcaption>${captionHtml(i.caption)}</figcaption></figure>`,
            )
            .join('')}</div>`
        : `<h2>${e(g.title)}</h2><p class="empty">${e(g.empty!)}</p>`,
    )
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${e(doc.title)}</title><style>${CSS}</style></head>
<body><h1>${e(doc.title)}</h1>${doc.subtitle ? `<p class="sub">${e(doc.subtitle)}</p>` : ''}
<table class="facts">${facts}<tr><td>generated</td><td>${e(doc.generatedAt)}</td></tr></table>
${alerts}${metrics}${chartHtml}${galleryHtml}
</body></html>
`;
}
