/**
 * Patient grouping for splits and cross-validation (pure). A patient's images must land on one side
 * of a split; so must byte-identical files. Both constraints are joined by union-find.
 */

/** How patient ids are found: the dataset's file-name rules, none (content identity only), or a regex. */
export type GroupBy = { kind: 'auto' } | { kind: 'none' } | { kind: 'regex'; source: string; re: RegExp };

/** `auto` (default), `none`, or a regular expression (its first capture group, else the whole match). */
export function parseGroupBy(s: string): GroupBy {
  if (s === 'auto') return { kind: 'auto' };
  if (s === 'none') return { kind: 'none' };
  if (s === '') throw new Error('--group-by: empty; expected auto, none or a regular expression');
  try {
    return { kind: 'regex', source: s, re: new RegExp(s) };
  } catch (err) {
    throw new Error(`--group-by ${s}: not a regular expression (${(err as Error).message})`, { cause: err });
  }
}

export const groupByText = (g: GroupBy): string => (g.kind === 'regex' ? g.source : g.kind);

/**
 * Patient id from a Kermany et al. chest X-ray file name: personNNN_bacteria_MMM.jpeg and
 * personNNN_virus_… -> personNNN; IM-XXXX-YYYY[-ZZZZ].jpeg -> IM-XXXX; NORMAL2-IM-XXXX-… -> NORMAL2-IM-XXXX.
 */
export function patientFromFileName(key: string): string | undefined {
  const name = key.slice(key.lastIndexOf('/') + 1);
  const m = /^(person\d+)_/i.exec(name) ?? /^((?:NORMAL\d*-)?IM-\d+)-/i.exec(name);
  return m ? m[1] : undefined;
}

/** The patient id of one key under a rule; an explicit id (labels file) wins. Undefined when none is found. */
export function patientOf(key: string, by: GroupBy, explicit?: ReadonlyMap<string, string>): string | undefined {
  const given = explicit?.get(key);
  if (given) return given;
  if (by.kind === 'none') return undefined;
  if (by.kind === 'auto') return patientFromFileName(key);
  const m = by.re.exec(key);
  return m ? (m[1] ?? m[0]) || undefined : undefined;
}

/** Connected components of items linked by shared keys; each item gets its component's smallest key. */
export function unionGroups(keys: readonly (readonly string[])[]): string[] {
  const parent = new Map<string, string>();
  const find = (k: string): string => {
    let r = k;
    while (parent.get(r) !== r) r = parent.get(r)!;
    for (let c = k; c !== r;) {
      const n = parent.get(c)!;
      parent.set(c, r);
      c = n;
    }
    return r;
  };
  for (const ks of keys) {
    for (const k of ks) if (!parent.has(k)) parent.set(k, k);
    for (let i = 1; i < ks.length; i++) {
      const [a, b] = [find(ks[0]), find(ks[i])];
      if (a !== b) parent.set(a < b ? b : a, a < b ? a : b); // the smaller key stays the root
    }
  }
  return keys.map((ks) => {
    if (ks.length === 0) throw new Error('unionGroups: an item has no key');
    return find(ks[0]);
  });
}

export interface GroupStats {
  rule: string;
  items: number;
  /** Distinct patient ids found. */
  patients: number;
  /** Items with no patient id: grouped by their content only. */
  fallbacks: number;
  fallbackExamples: string[];
  /** Groups after joining patients and identical content. */
  groups: number;
}

/**
 * Replaces each item's `group` (its content identity: sha256 or ETag) by its patient-and-content
 * component: `patient:ID` (smallest id in it) or `content:…` for items with no patient id.
 */
export function groupByPatient<T extends { group: string }>(
  items: readonly T[],
  keyOf: (t: T) => string,
  by: GroupBy,
  explicit?: ReadonlyMap<string, string>,
): { items: T[]; stats: GroupStats } {
  const patients = new Set<string>();
  const fallbackExamples: string[] = [];
  let fallbacks = 0;
  const keys = items.map((it) => {
    const p = patientOf(keyOf(it), by, explicit);
    if (p === undefined) {
      if (fallbacks++ < 5) fallbackExamples.push(keyOf(it));
      return [`content:${it.group}`];
    }
    patients.add(p);
    return [`patient:${p}`, `content:${it.group}`]; // 'content:' < 'patient:': order keys so a patient names the group
  });
  const roots = unionGroups(keys);
  const names = new Map<string, string>(); // root -> smallest patient key in its component (if any)
  keys.forEach((ks, i) => {
    const p = ks[0].startsWith('patient:') ? ks[0] : undefined;
    const cur = names.get(roots[i]);
    if (p && (!cur || !cur.startsWith('patient:') || p < cur)) names.set(roots[i], p);
    else if (!cur) names.set(roots[i], roots[i]);
  });
  if (by.kind === 'regex' && items.length > 0 && patients.size === 0 && !explicit?.size) {
    throw new Error(`--group-by ${by.source}: matched none of ${items.length} keys (e.g. ${keyOf(items[0])})`);
  }
  return {
    items: items.map((it, i) => ({ ...it, group: names.get(roots[i])! })),
    stats: {
      rule: groupByText(by),
      items: items.length,
      patients: patients.size,
      fallbacks,
      fallbackExamples,
      groups: new Set(names.values()).size,
    },
  };
}
