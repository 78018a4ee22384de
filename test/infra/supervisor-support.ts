/**
 * `npm start` (tools/dev/start.ts) as a test runs it: its own Postgres and Temporal (not the
 * harness's) on free ports, in a temp data folder; every output line kept.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_PORTS, portEnv } from '../../src/platform/config';
import { spawnChild, type ChildHandle } from '../../tools/dev/child';
import { isAlive } from '../../tools/dev/leftovers';
import { ROOT } from '../../tools/dev/processes';
import { freePorts } from '../../tools/dev/wait';

export const READY_LINE = /checkout-saga is ready/;

export interface Supervisor {
  child: ChildHandle;
  /** Every line it printed (stdout and stderr), in order. */
  output: string[];
}

/** The env of a supervisor on `dataDir` and fresh free ports, without the harness's infrastructure. */
export async function supervisorEnv(dataDir: string, extra: Record<string, string> = {}): Promise<NodeJS.ProcessEnv> {
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir };
  for (const k of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'HOST']) delete env[k];
  const names = Object.keys(DEFAULT_PORTS) as (keyof typeof DEFAULT_PORTS)[];
  (await freePorts(names.length)).forEach((port, i) => (env[portEnv(names[i]!)] = String(port)));
  return { ...env, ...extra };
}

export function spawnSupervisor(env: NodeJS.ProcessEnv): Supervisor {
  const output: string[] = [];
  const child = spawnChild('start', process.execPath, ['--import', 'tsx', path.join(ROOT, 'tools', 'dev', 'start.ts')], {
    env,
    cwd: ROOT,
    onLine: (line) => output.push(line),
  });
  return { child, output };
}

/** Resolves at the first line matching `pattern`; rejects with the output if the supervisor exits first. */
export async function waitForLine(s: Supervisor, pattern: RegExp): Promise<void> {
  await s.child.waitForLine(pattern).catch(() => {
    throw new Error(`npm start exited before printing ${pattern}; its output:\n${s.output.slice(-60).join('\n')}`);
  });
}

export function postmasterPid(dataDir: string): number {
  try {
    return Number(fs.readFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]) || 0;
  } catch {
    return 0;
  }
}

/** Pids of live processes whose environment names `dataDir` as DATA_DIR, or whose working folder is inside it (Postgres). */
export function processesOf(dataDir: string): number[] {
  return fs
    .readdirSync('/proc')
    .filter((f) => /^\d+$/.test(f) && Number(f) !== process.pid)
    .map(Number)
    .filter((pid) => {
      try {
        if (fs.readlinkSync(`/proc/${pid}/cwd`).startsWith(dataDir)) return isAlive(pid);
        return fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`DATA_DIR=${dataDir}`) && isAlive(pid);
      } catch {
        return false;
      }
    });
}

/** After a test (passed or not): SIGKILLs whatever still runs on `dataDir` and waits until it is gone. */
export async function killEverything(dataDir: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const left = processesOf(dataDir);
    if (!left.length) return;
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
