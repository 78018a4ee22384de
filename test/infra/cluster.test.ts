/**
 * `npm run start:cluster` end to end, as a new user runs it: on free ports and a temp data folder
 * it brings up Temporal's Postgres, the schemas, the four Temporal services, the Web UI, two
 * workers, two API replicas and the services; the README's curl completes a checkout through
 * either API replica; the banner and the state file list both replicas and both workers; Ctrl-C
 * leaves no process; a second start on the same folder changes no schema and creates nothing.
 * Times and the RSS of each process (at rest and after a short load) are printed for the record.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { DEV_API_KEY } from '../../src/platform/config';
import { isAlive } from '../../tools/dev/leftovers';
import { sampleCheckoutRequest } from '../../tools/support/samples';
import { clusterEnv, clusterTest, readState, rssByProcess, spawnClusterSupervisor, type ClusterState } from './cluster-support';
import { killEverything, processesOf, READY_LINE, waitForLine, type Supervisor } from './supervisor-support';

jest.setTimeout(900_000);
const run = promisify(execFile);

let dataDir: string;
let supervisor: Supervisor | undefined;
const figures: Record<string, unknown> = {};

afterAll(async () => {
  await supervisor?.child.stop(20_000);
  if (dataDir) {
    await killEverything(dataDir);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  // For the record (the note): times, RSS at rest and after load, throughput.
  process.stdout.write(`cluster figures: ${JSON.stringify(figures, null, 2)}\n`);
});

async function startCluster(env: NodeJS.ProcessEnv): Promise<{ state: ClusterState; ms: number; output: string[] }> {
  const started = Date.now();
  supervisor = spawnClusterSupervisor(env);
  await waitForLine(supervisor, READY_LINE);
  return { state: readState(dataDir), ms: Date.now() - started, output: supervisor.output };
}

async function stopCluster(state: ClusterState): Promise<void> {
  const s = supervisor!;
  process.kill(s.child.pid, 'SIGINT'); // what a terminal's Ctrl-C (forwarded by npm) sends
  await expect(s.child.exited).resolves.toEqual({ code: 0, signal: null });
  supervisor = undefined;
  expect(Object.entries(state.processes).filter(([, pid]) => isAlive(pid))).toEqual([]);
  expect(processesOf(dataDir)).toEqual([]);
  expect(fs.existsSync(path.join(dataDir, 'state.json'))).toBe(false);
}

/** The state file's curl (the README's), run by a shell as a person would, against `apiUrl`. */
async function curl(state: ClusterState, apiUrl: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const command = state.curl.replace(state.apiUrl, apiUrl);
  const { stdout } = await run('bash', ['-c', command], { timeout: 60_000 });
  const status = Number(/^HTTP\/[\d.]+ (\d{3})/m.exec(stdout)?.[1]);
  return { status, body: JSON.parse(stdout.slice(stdout.indexOf('\r\n\r\n') + 4)) as Record<string, unknown> };
}

/** Temporal's schema state: the versions and the number of updates ever applied. */
async function schemaState(env: NodeJS.ProcessEnv): Promise<Record<string, { version: string; updates: number }>> {
  const out: Record<string, { version: string; updates: number }> = {};
  for (const db of ['temporal', 'temporal_visibility']) {
    const client = new Client({ connectionString: `postgres://postgres:postgres@127.0.0.1:${env.TEMPORAL_POSTGRES_PORT}/${db}` });
    await client.connect();
    try {
      const version = (await client.query<{ v: string }>('SELECT curr_version AS v FROM schema_version')).rows[0]!.v;
      const updates = Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM schema_update_history')).rows[0]!.n);
      out[db] = { version, updates };
    } finally {
      await client.end();
    }
  }
  return out;
}

/** `count` checkouts, `concurrency` at a time, alternating between the API replicas. */
async function load(state: ClusterState, count: number, concurrency: number): Promise<{ completed: number; perSecond: number }> {
  let next = 0;
  let completed = 0;
  const started = Date.now();
  const one = async (i: number) => {
    const res = await fetch(`${state.apiUrls[i % 2]}/checkouts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${DEV_API_KEY}`, 'idempotency-key': `cluster-load-${i}-${started}`, 'content-type': 'application/json', prefer: 'wait=60' },
      body: JSON.stringify(sampleCheckoutRequest({ email: `load-${i}@example.com` })),
    });
    const body = (await res.json()) as { status?: string };
    if (res.status === 201 && body.status === 'completed') completed++;
  };
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await one(next++);
    }),
  );
  return { completed, perSecond: Math.round((count / ((Date.now() - started) / 1000)) * 10) / 10 };
}

clusterTest()('start:cluster: both API replicas complete the README curl, banner and state list replicas and workers, Ctrl-C leaves nothing, a second start changes no schema', async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-test-'));
  const env = await clusterEnv(dataDir);

  // First start: fresh Postgres clusters, schemas from 0, namespace and search attributes made.
  const first = await startCluster(env);
  figures.coldStartMs = first.ms;
  const { state } = first;
  expect(state.topology).toBe('cluster');
  expect(state.apiUrls).toEqual([`http://127.0.0.1:${env.API_PORT}`, `http://127.0.0.1:${env.API_REPLICA_PORT}`]);
  expect(Object.keys(state.processes).sort()).toEqual(
    [
      'api-1', 'api-2', 'mailbox', 'notification', 'order', 'payment', 'postgres',
      'temporal-frontend', 'temporal-history', 'temporal-matching', 'temporal-postgres', 'temporal-ui', 'temporal-worker',
      'worker-1', 'worker-2',
    ].sort(),
  );
  const banner = first.output.join('\n');
  expect(banner).toContain(`API replica   ${state.apiUrls[1]}`);
  expect(banner).toMatch(/Workers\s+worker-1, worker-2/);
  expect(banner).toMatch(/frontend, history, matching, worker \(Temporal server v1\.29\.1\)/);
  expect(first.output.some((l) => /setting up the schema version tables/.test(l))).toBe(true);
  const schemas = await schemaState(env);
  expect(Object.values(schemas).every((s) => s.updates > 0)).toBe(true);

  // The README's curl, as printed, through each replica.
  for (const url of state.apiUrls) {
    const res = await curl(state, url);
    expect([url, res.status, res.body.status]).toEqual([url, 201, 'completed']);
  }
  expect((await fetch(state.temporalUiUrl)).status).toBe(200);

  await new Promise((r) => setTimeout(r, 5_000)); // settle: let start-up work and the first checkouts' tails finish
  const all = { ...state.processes, supervisor: supervisor!.child.pid };
  figures.rssAtRestMiB = rssByProcess(all);
  const loaded = await load(state, 100, 10);
  expect(loaded.completed).toBe(100);
  figures.load = { checkouts: 100, concurrency: 10, ...loaded };
  figures.rssAfterLoadMiB = rssByProcess(all);
  await stopCluster(state);

  // Second start on the same folder: nothing to set up, no schema update, no process left after.
  const second = await startCluster(env);
  figures.cachedStartMs = second.ms;
  expect(second.output.some((l) => /setting up the schema version tables|created namespace|added search attributes/.test(l))).toBe(false);
  expect(await schemaState(env)).toEqual(schemas);
  const again = await curl(second.state, second.state.apiUrls[1]!);
  expect([again.status, again.body.status]).toEqual([201, 'completed']);
  await stopCluster(second.state);
});
