import { readdirSync, readFileSync } from 'node:fs';

/** Busy CPU seconds of the whole machine so far (Linux /proc/stat; NaN elsewhere). */
export function machineCpuSeconds(): number {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return (f.reduce((a, b) => a + b, 0) - f[3] - f[4]) / 100; // minus idle and iowait; USER_HZ = 100
  } catch {
    return NaN;
  }
}

/** User + system CPU seconds of a live process (Linux /proc; 0 when it is gone). */
function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime
  } catch {
    return 0;
  }
}

/** Direct children of `ppid` whose command line matches `pattern`. */
export function childPidsMatching(ppid: number, pattern: RegExp): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== ppid) continue;
      if (pattern.test(readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' '))) out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** CPU seconds of the given live processes, this one included when `self`. */
export function cpuSecondsOf(pids: readonly number[], self = false): number {
  const own = process.cpuUsage();
  return (self ? (own.user + own.system) / 1e6 : 0) + pids.reduce((s, p) => s + processCpuSeconds(p), 0);
}

/** Every live descendant of `root` (children, their children, ...), from /proc. */
export function descendantPids(root: number = process.pid): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      /* gone */
    }
  }
  const out: number[] = [];
  for (let todo = [...(children.get(root) ?? [])]; todo.length;) {
    const p = todo.pop()!;
    out.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}

/** A process's command line ('' when it is gone). */
export function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}
