/** How metric values are shown (terminal tables, reports); null is a metric that is undefined. Pure. */

export function percent(v: number | null, digits = 1): string {
  return v === null ? 'n/a' : `${(v * 100).toFixed(digits)}%`;
}

export function fixed(v: number | null, digits: number): string {
  return v === null ? 'n/a' : v.toFixed(digits);
}
