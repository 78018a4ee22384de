/**
 * `npm run start:cluster` as the cluster tests run it: the supervisor with `--cluster` on free
 * ports (the Temporal frontend on a port whose fixed offsets are free too) in a temp data folder,
 * the binaries from the per-user cache (built beforehand: `.ci/run`, or
 * `npx tsx tools/dev/cluster/locate-main.ts`), never built inside a test timeout. Without them
 * the cluster tests are skipped, except in CI.
 */
import fs from 'node:fs';
import path from 'node:path';
import { cacheBinDir, findOnPath, isExecutableFile } from '../../tools/dev/binaries';
import { TEMPORAL_SERVER, TEMPORAL_SQL_TOOL, TEMPORAL_UI_SERVER } from '../../tools/dev/cluster/binaries';
import { frontendPortProblem, servicePorts } from '../../tools/dev/cluster/temporal-cluster';
import { spawnChild } from '../../tools/dev/child';
import { ROOT } from '../../tools/dev/processes';
import { portFree } from '../../tools/dev/wait';
import type { Supervisor } from './supervisor-support';
import { supervisorEnv } from './supervisor-support';

const SPECS = [TEMPORAL_SERVER, TEMPORAL_SQL_TOOL, TEMPORAL_UI_SERVER];
const BUILD_HINT = 'build them once with: npx tsx tools/dev/cluster/locate-main.ts (.ci/run does)';

/** The three binaries as the locator finds them without building (explicit path, PATH, cache); undefined if one is missing. */
export function cachedClusterBinaries(env: NodeJS.ProcessEnv = process.env): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const spec of SPECS) {
    const explicit = env[spec.pathVariable];
    const file = explicit || findOnPath(spec.name, env) || path.join(cacheBinDir(env), spec.name);
    if (!isExecutableFile(file)) return undefined;
    out[spec.pathVariable] = file;
  }
  return out;
}

/**
 * `test`, or `test.skip` with a note when the cluster binaries are not built and this is not CI:
 * `npm test` needs no Go; in CI (.ci/run builds them first) a missing binary is a failure.
 */
export function clusterTest(): jest.It {
  if (cachedClusterBinaries() || process.env.CI) return test;
  process.stderr.write(`[cluster tests] skipped: the Temporal server, SQL tool or UI server is not built; ${BUILD_HINT}\n`);
  return test.skip;
}

function requiredClusterBinaries(): Record<string, string> {
  const found = cachedClusterBinaries();
  if (!found) throw new Error(`the start:cluster binaries (${SPECS.map((s) => s.name).join(', ')}) are not all built: ${BUILD_HINT}`);
  return found;
}

/**
 * A frontend port whose history, matching, worker, membership and HTTP ports (fixed offsets) are
 * all free, below the ephemeral range: Temporal keeps membership ports in a smallint (≤ 32767).
 */
export async function freeFrontendPort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 13_000);
    if (frontendPortProblem(port)) continue;
    const all = Object.values(servicePorts(port)).flatMap((p) => [p.grpcPort, p.membershipPort, p.httpPort]).filter((p): p is number => p !== undefined);
    if ((await Promise.all(all.map((p) => portFree('127.0.0.1', p)))).every(Boolean)) return port;
  }
  throw new Error('no frontend port with free offsets found');
}

/** The env of a cluster supervisor on `dataDir`: fresh free ports, the cached binaries. */
export async function clusterEnv(dataDir: string, extra: Record<string, string> = {}): Promise<NodeJS.ProcessEnv> {
  const env = await supervisorEnv(dataDir, { ...requiredClusterBinaries(), TEMPORAL_PORT: String(await freeFrontendPort()), ...extra });
  // The harness's bundle and task queue belong to it; the supervisor makes its own.
  for (const k of ['WORKFLOW_BUNDLE_PATH', 'TEMPORAL_TASK_QUEUE', 'TEMPORAL_NAMESPACE']) delete env[k];
  return env;
}

export function spawnClusterSupervisor(env: NodeJS.ProcessEnv): Supervisor {
  const output: string[] = [];
  const child = spawnChild('start:cluster', process.execPath, ['--import', 'tsx', path.join(ROOT, 'tools', 'dev', 'start.ts'), '--cluster'], {
    env,
    cwd: ROOT,
    onLine: (line) => output.push(line),
  });
  return { child, output };
}

export interface ClusterState {
  topology: string;
  apiUrl: string;
  apiUrls: string[];
  temporalUiUrl: string;
  temporalAddress: string;
  apiKey: string;
  curl: string;
  processes: Record<string, number>;
  readyInMs: number;
}

export function readState(dataDir: string): ClusterState {
  return JSON.parse(fs.readFileSync(path.join(dataDir, 'state.json'), 'utf8')) as ClusterState;
}

/** Pids of the process group `pgid` (a detached child and everything it started). */
function groupOf(pgid: number): number[] {
  return fs
    .readdirSync('/proc')
    .filter((f) => /^\d+$/.test(f))
    .map(Number)
    .filter((pid) => {
      try {
        // /proc/<pid>/stat: "pid (comm) state ppid pgrp …"; comm may hold spaces and parentheses.
        const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) === pgid;
      } catch {
        return false;
      }
    });
}

function rssKiB(pid: number): number {
  try {
    const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
    return Number(line?.split(/\s+/)[1] ?? 0);
  } catch {
    return 0;
  }
}

/** RSS in MiB of each named process with everything in its process group (Postgres: all its backends). */
export function rssByProcess(processes: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(processes).map(([name, pid]) => [name, Math.round(groupOf(pid).reduce((sum, p) => sum + rssKiB(p), 0) / 1024)]),
  );
}
