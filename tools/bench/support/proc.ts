/**
 * CPU time and resident memory of the processes under measurement, read from /proc (Linux).
 *
 * CPU of a process counts its own utime + stime and that of every live descendant, plus the
 * cutime + cstime of children it already reaped: a Postgres postmaster's backends, esbuild's
 * service under tsx. Differences of two readings give CPU-seconds spent between them.
 */
import fs from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ on every Linux we run on (sysconf(_SC_CLK_TCK))

interface Stat {
  pid: number;
  ppid: number;
  /** utime + stime, in ticks. */
  own: number;
  /** cutime + cstime (reaped children), in ticks. */
  reaped: number;
}

function readStat(pid: number): Stat | undefined {
  let raw: string;
  try {
    raw = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // exited
  }
  // The command name (field 2) is in parentheses and may hold spaces: split after its last ')'.
  const fields = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): field n is fields[n - 3].
  const f = (n: number) => Number(fields[n - 3]);
  return { pid, ppid: f(4), own: f(14) + f(15), reaped: f(16) + f(17) };
}

function allStats(): Stat[] {
  const out: Stat[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = readStat(Number(entry));
    if (s) out.push(s);
  }
  return out;
}

/** The process and all its live descendants. */
function tree(root: number, stats: Stat[]): Stat[] {
  const children = new Map<number, Stat[]>();
  for (const s of stats) children.set(s.ppid, [...(children.get(s.ppid) ?? []), s]);
  const self = stats.find((s) => s.pid === root);
  if (!self) return [];
  const out: Stat[] = [];
  const todo = [self];
  while (todo.length) {
    const s = todo.pop()!;
    out.push(s);
    todo.push(...(children.get(s.pid) ?? []));
  }
  return out;
}

export type Watched = Record<string, number>;

/** CPU-seconds used so far by each named process tree (own + descendants + reaped children). */
export function cpuSeconds(processes: Watched): Record<string, number> {
  const stats = allStats();
  const out: Record<string, number> = {};
  for (const [name, pid] of Object.entries(processes)) {
    const members = tree(pid, stats);
    out[name] = members.reduce((sum, s) => sum + s.own + s.reaped, 0) / TICKS_PER_SECOND;
  }
  return out;
}

/** The difference of two readings, per name. */
export function delta(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]));
}

/** This process's own CPU-seconds so far (the benchmark's clients). */
export function selfCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}
