/**
 * `npm start` after a run that was killed comes up (issue 8, item 11): whatever a SIGKILL left
 * behind (children of a supervisor that died, a postmaster in its shutdown, a stale
 * postmaster.pid, orphaned Postgres backends, a port still held) the next start clears or waits
 * out. One data folder and one set of ports for the whole file, as a developer's `.data/`: the
 * start that checks one kill is the run the next test kills, which keeps the file to five starts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { killEverything, postmasterPid, READY_LINE, spawnSupervisor, supervisorEnv, waitForLine, type Supervisor } from './supervisor-support';

jest.setTimeout(120_000);

let dataDir: string;
let env: NodeJS.ProcessEnv;
/** The run the next test kills; undefined once it is gone. */
let running: Supervisor | undefined;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'restart-after-kill-'));
  env = await supervisorEnv(dataDir);
});

afterAll(async () => {
  if (running?.child.running()) {
    process.kill(running.child.pid, 'SIGINT');
    await running.child.exited;
  }
  await killEverything(dataDir);
  fs.rmSync(dataDir, { recursive: true, force: true });
});

/** A new `npm start` on the same folder and ports must reach ready; it stays running for the next test. */
async function nextStartComesUp(): Promise<void> {
  running = spawnSupervisor(env);
  await waitForLine(running, READY_LINE);
}

/**
 * The run to kill: the one the previous test brought up, or (when that test failed, or this one
 * runs alone) a new one after everything of the failed run was killed.
 */
async function ready(): Promise<Supervisor> {
  if (!running?.child.running() || !running.output.some((l) => READY_LINE.test(l))) {
    if (running?.child.running()) await running.child.kill9();
    await killEverything(dataDir);
    await nextStartComesUp();
  }
  return running!;
}

/** The pids in the state file of the ready run: the supervisor and each child (each leads its own group). */
function statePids(): { supervisor: number; processes: Record<string, number> } {
  const state = JSON.parse(fs.readFileSync(path.join(dataDir, 'state.json'), 'utf8')) as { supervisorPid: number; processes: Record<string, number> };
  return { supervisor: state.supervisorPid, processes: state.processes };
}

test('SIGKILL of the supervisor mid-start (the services starting on a fresh cluster): the next start comes up', async () => {
  const first = spawnSupervisor(env);
  await waitForLine(first, /Postgres and Temporal ready/);
  await first.child.kill9();
  await nextStartComesUp();
});

test('SIGINT, then SIGKILL while the supervisor stops Postgres: the next start comes up', async () => {
  const run = await ready();
  process.kill(run.child.pid, 'SIGINT');
  // The database goes last: this is the supervisor waiting for it, the moment of the report.
  await waitForLine(run, /^postgres\s*\| .*shutting down/);
  // Held in its shutdown (as a slow shutdown checkpoint would hold it), the postmaster is surely
  // still there when the next start sweeps: the race of the report, made certain.
  process.kill(postmasterPid(dataDir), 'SIGSTOP');
  await run.child.kill9();
  await nextStartComesUp();
});

test('SIGKILL of the postmaster alone: the supervisor stops everything (exit 1); the next start comes up', async () => {
  const run = await ready();
  const postmaster = postmasterPid(dataDir);
  expect(postmaster).toBeGreaterThan(0);
  process.kill(postmaster, 'SIGKILL');
  await expect(run.child.exited).resolves.toEqual({ code: 1, signal: null });
  expect(run.output.join('\n')).toMatch(/postgres DIED/);
  await nextStartComesUp();
});

test('SIGKILL of every process group of the run at once: the next start comes up', async () => {
  const run = await ready();
  const { supervisor, processes } = statePids();
  for (const pid of [supervisor, ...Object.values(processes)]) process.kill(-pid, 'SIGKILL');
  await run.child.exited;
  await nextStartComesUp();
});
