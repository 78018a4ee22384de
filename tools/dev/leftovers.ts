/**
 * Records of the process groups a supervisor (or the test harness) started, so that the next
 * start can stop the ones a killed predecessor left behind (a SIGKILL gives no chance to clean
 * up). A record is honoured only when the pid is alive AND still runs the recorded command, so a
 * recycled pid of an unrelated process is never touched.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface ProcessRecord {
  pid: number;
  /** A substring of /proc/<pid>/cmdline that identifies the process we started. */
  marker: string;
}

/** True while `pid` runs. A zombie (dead, not yet reaped: common where PID 1 does not reap) counts as dead. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    // Field 3 of /proc/<pid>/stat is the state; the command before it is in parentheses.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no procfs: trust kill(0)
  }
}

/** True when the recorded pid is alive and still runs the recorded command. */
export function runs(record: ProcessRecord): boolean {
  if (!isAlive(record.pid)) return false;
  try {
    return fs.readFileSync(`/proc/${record.pid}/cmdline`, 'utf8').includes(record.marker);
  } catch {
    return false;
  }
}

/**
 * Live members of process group `pgid` (field 5 of /proc/<pid>/stat), zombies excluded. Without
 * procfs: the leader alone, if it lives.
 */
export function groupMembers(pgid: number): number[] {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc').filter((f) => /^\d+$/.test(f));
  } catch {
    return isAlive(pgid) ? [pgid] : [];
  }
  return entries.map(Number).filter((pid) => {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(fields[2]) === pgid && fields[0] !== 'Z';
    } catch {
      return false; // exited while we looked
    }
  });
}

/**
 * Waits until no process of `pids` is alive (kill(pid, 0) semantics, a zombie counts as exited),
 * polling every 50 ms for at most `timeoutMs`; returns the pids still alive at the end.
 */
export async function waitForExit(pids: number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let alive = pids.filter(isAlive);
  while (alive.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    alive = alive.filter(isAlive);
  }
  return alive;
}

/** How long the sweep waits for killed processes to be gone (a SIGKILL is not instant: exit closes files and sockets). */
const SWEEP_WAIT_MS = 10_000;

/**
 * SIGKILLs the group of every record still running its command, then waits (bounded) until every
 * member of those groups has really exited, not just the leader: a process that still runs holds
 * its ports and files (a postmaster its data folder) and the next start would collide with it.
 * Returns the pids of the records stopped.
 */
export async function killLeftovers(records: ProcessRecord[]): Promise<number[]> {
  const killed: number[] = [];
  const groups: number[] = [];
  const single: number[] = [];
  for (const r of records.filter(runs)) {
    try {
      process.kill(-r.pid, 'SIGKILL'); // recorded children lead their own group
      groups.push(r.pid);
    } catch {
      try {
        process.kill(r.pid, 'SIGKILL'); // harness children share jest's group
      } catch {
        // exited meanwhile
      }
      single.push(r.pid);
    }
    killed.push(r.pid);
  }
  const deadline = Date.now() + SWEEP_WAIT_MS;
  for (;;) {
    // A member forked just before the group kill may have missed it: kill what the group still holds.
    const members = groups.flatMap(groupMembers);
    for (const pid of members) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    if ((!members.length && !single.some(isAlive)) || Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return killed;
}

/** A folder of one-record-per-file entries: writers in many processes never contend. */
export class PidDir {
  constructor(readonly dir: string) {}

  add(record: ProcessRecord): void {
    fs.mkdirSync(this.dir, { recursive: true });
    fs.writeFileSync(path.join(this.dir, String(record.pid)), JSON.stringify(record));
  }

  remove(pid: number): void {
    fs.rmSync(path.join(this.dir, String(pid)), { force: true });
  }

  list(): ProcessRecord[] {
    if (!fs.existsSync(this.dir)) return [];
    return fs.readdirSync(this.dir).flatMap((f) => {
      try {
        return [JSON.parse(fs.readFileSync(path.join(this.dir, f), 'utf8')) as ProcessRecord];
      } catch {
        return [];
      }
    });
  }

  /** Kills every recorded process still running, then forgets all records. */
  async sweep(): Promise<number[]> {
    const killed = await killLeftovers(this.list());
    fs.rmSync(this.dir, { recursive: true, force: true });
    return killed;
  }
}
