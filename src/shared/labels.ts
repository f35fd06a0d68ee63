import { parse } from 'csv-parse/sync';

export const CLASS_NAMES = ['NORMAL', 'PNEUMONIA'] as const;
export type ClassName = (typeof CLASS_NAMES)[number];

/** The class named by a folder in the key (…/NORMAL/… or …/PNEUMONIA/…), if any. */
export function labelFromKey(key: string): ClassName | undefined {
  const parts = key
    .split('/')
    .slice(0, -1)
    .map((p) => p.toUpperCase());
  for (let i = parts.length - 1; i >= 0; i--) {
    const p = parts[i];
    if (p === 'NORMAL' || p === 'PNEUMONIA') return p;
  }
  return undefined;
}

export function parseClassName(value: string, where: string): ClassName {
  const v = value.trim().toUpperCase();
  if (v === 'NORMAL' || v === '0') return 'NORMAL';
  if (v === 'PNEUMONIA' || v === '1') return 'PNEUMONIA';
  throw new Error(`${where}: label ${JSON.stringify(value)} is neither NORMAL nor PNEUMONIA`);
}

/** A labels file's content: the class of each key and, where given, its group (e.g. patient id). */
export interface LabelsFile {
  labels: Map<string, ClassName>;
  groups: Map<string, string>;
}

/** Parses a labels file: CSV `key,label` (header optional, RFC 4180 quoting) or JSON lines {"key","label"}. */
export function parseLabelsFile(text: string, name = 'labels file'): Map<string, ClassName> {
  return parseLabelsWithGroups(text, name).labels;
}

/**
 * As parseLabelsFile, plus an optional group per key: CSV `key,label,group` (header `key,label,group`
 * optional) or a string "group" in a JSON line. An empty group means none.
 */
export function parseLabelsWithGroups(text: string, name = 'labels file'): LabelsFile {
  const out: LabelsFile = { labels: new Map(), groups: new Map() };
  const add = (key: string, label: string, group: string | undefined, where: string) => {
    out.labels.set(key, parseClassName(label, where));
    if (group) out.groups.set(key, group);
  };
  if (text.trimStart().startsWith('{')) {
    text.split(/\r?\n/).forEach((line, i) => {
      if (!line.trim()) return;
      const where = `${name} line ${i + 1}`;
      const o = JSON.parse(line) as { key?: unknown; label?: unknown; group?: unknown };
      if (typeof o.key !== 'string' || typeof o.label !== 'string')
        throw new Error(`${where}: needs string "key" and "label"`);
      if (o.group !== undefined && typeof o.group !== 'string') throw new Error(`${where}: "group" must be a string`);
      add(o.key, o.label, o.group, where);
    });
    return out;
  }
  const rows = parse(text, { skip_empty_lines: true, trim: true, relax_column_count: true, info: true }) as unknown as {
    record: string[];
    info: { lines: number };
  }[];
  rows.forEach(({ record, info }, i) => {
    const where = `${name} line ${info.lines}`;
    if (record.length !== 2 && record.length !== 3)
      throw new Error(`${where}: expected "key,label" or "key,label,group", got ${record.length} fields`);
    const [key, label, group] = record;
    if (
      i === 0 &&
      key.toLowerCase() === 'key' &&
      label.toLowerCase() === 'label' &&
      (group === undefined || group.toLowerCase() === 'group')
    )
      return;
    add(key, label, group, where);
  });
  return out;
}
