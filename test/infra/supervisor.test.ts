/**
 * `npm start` end to end: on free ports and a temp data folder (its own Postgres and Temporal,
 * not the harness's), it becomes ready, writes the state file, and a SIGINT leaves no process.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_PORTS, portEnv } from '../../src/platform/config';
import { spawnChild, type ChildHandle } from '../../tools/dev/child';
import { isAlive } from '../../tools/dev/leftovers';
import { ROOT } from '../../tools/dev/processes';
import { freePorts } from '../../tools/dev/wait';

jest.setTimeout(150_000);

let dataDir: string;
let supervisor: ChildHandle | undefined;
afterAll(async () => {
  await supervisor?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test('npm start: ready banner and state file; SIGINT stops every process it started', async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'supervisor-test-'));
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir };
  // The harness's infrastructure is not the supervisor's: it must start its own.
  for (const k of ['DATABASE_URL', 'TEMPORAL_ADDRESS']) delete env[k];
  const names = Object.keys(DEFAULT_PORTS) as (keyof typeof DEFAULT_PORTS)[];
  (await freePorts(names.length)).forEach((port, i) => (env[portEnv(names[i]!)] = String(port)));

  supervisor = spawnChild('start', process.execPath, ['--import', 'tsx', path.join(ROOT, 'tools', 'dev', 'start.ts')], { env, cwd: ROOT });
  await Promise.race([
    supervisor.waitForLine(/checkout-saga is ready/),
    supervisor.exited.then(() => Promise.reject(new Error(`npm start exited:\n${supervisor!.tail().join('\n')}`))),
  ]);
  const state = JSON.parse(fs.readFileSync(path.join(dataDir, 'state.json'), 'utf8')) as {
    apiUrl: string;
    apiKey: string;
    curl: string;
    processes: Record<string, number>;
  };
  expect(state.apiUrl).toBe(`http://127.0.0.1:${env.API_PORT}`);
  expect(state.curl).toContain('Idempotency-Key');
  expect(Object.keys(state.processes).sort()).toEqual(['api', 'mailbox', 'notification', 'order', 'payment', 'postgres', 'temporal', 'worker']);
  const postmaster = Number(fs.readFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);

  process.kill(supervisor.pid, 'SIGINT'); // what npm forwards on Ctrl-C
  await expect(supervisor.exited).resolves.toEqual({ code: 0, signal: null });
  supervisor = undefined;
  expect([...Object.values(state.processes), postmaster].filter(isAlive)).toEqual([]);
  expect(fs.existsSync(path.join(dataDir, 'state.json'))).toBe(false);
});
