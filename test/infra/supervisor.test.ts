/**
 * `npm start` end to end: on free ports and a temp data folder (its own Postgres and Temporal,
 * not the harness's), it becomes ready, writes the state file, and a SIGINT leaves no process.
 * Started with HOST=0.0.0.0, as an operator who wants the API reachable would: the API follows,
 * every internal listener stays on loopback (issue 8, item 10), and no secret is printed or
 * written.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isAlive } from '../../tools/dev/leftovers';
import { postmasterPid, READY_LINE, spawnSupervisor, supervisorEnv, waitForLine, type Supervisor } from './supervisor-support';

jest.setTimeout(150_000);

const SERVICE_TOKEN = 'svc-token-never-printed-7f3a';
/** scheme://user:password@ with a password that is not the mask. */
const URL_WITH_PASSWORD = /:\/\/[^\s:/@]*:(?!\*\*\*@)[^\s@/]+@/;

let dataDir: string;
let supervisor: Supervisor | undefined;
afterAll(async () => {
  await supervisor?.child.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

/** Local address of every TCP socket listening on `port` (IPv4 and IPv6), from /proc/net/tcp*. */
function listeners(port: number): string[] {
  const found: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of fs.readFileSync(file, 'utf8').split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (!local || state !== '0A' || parseInt(local.split(':')[1]!, 16) !== port) continue;
      const hex = local.split(':')[0]!;
      found.push(hex.length === 8 ? hex.match(/../g)!.reverse().map((b) => parseInt(b, 16)).join('.') : hex === '0'.repeat(32) ? '::' : hex);
    }
  }
  return found;
}

test('npm start: ready banner and state file; HOST=0.0.0.0 moves only the API; no secret printed; SIGINT stops every process it started', async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'supervisor-test-'));
  const env = await supervisorEnv(dataDir, { HOST: '0.0.0.0', SERVICE_TOKEN });
  // A state file an older version left world-readable is made private too.
  fs.writeFileSync(path.join(dataDir, 'state.json'), '{}\n', { mode: 0o644 });
  fs.chmodSync(path.join(dataDir, 'state.json'), 0o644);

  supervisor = spawnSupervisor(env);
  await waitForLine(supervisor, READY_LINE);
  const stateFile = path.join(dataDir, 'state.json');
  const text = fs.readFileSync(stateFile, 'utf8');
  const state = JSON.parse(text) as { apiUrl: string; apiKey: string; curl: string; databaseUrl: string; processes: Record<string, number> };
  expect(state.apiUrl).toBe(`http://127.0.0.1:${env.API_PORT}`);
  expect(state.curl).toContain('Idempotency-Key');
  expect(Object.keys(state.processes).sort()).toEqual(['api', 'mailbox', 'notification', 'order', 'payment', 'postgres', 'temporal', 'worker']);

  expect(fs.statSync(stateFile).mode & 0o777).toBe(0o600);
  expect(state.databaseUrl).toBe(`postgres://postgres:***@127.0.0.1:${env.POSTGRES_PORT}/postgres`);
  expect(text).not.toMatch(URL_WITH_PASSWORD);
  const output = supervisor.output.join('\n');
  expect(output).toMatch(/Postgres ready: postgres:\/\/postgres:\*\*\*@/);
  expect(output).not.toMatch(URL_WITH_PASSWORD);
  expect(output).not.toContain(SERVICE_TOKEN);
  expect(output).toContain('Beyond loopback: HOST=0.0.0.0 (the checkout API)');

  expect(listeners(Number(env.API_PORT))).toEqual(['0.0.0.0']);
  for (const name of ['PAYMENT_PORT', 'ORDER_PORT', 'NOTIFICATION_PORT', 'MAILBOX_HTTP_PORT', 'MAILBOX_SMTP_PORT', 'POSTGRES_PORT', 'TEMPORAL_PORT', 'TEMPORAL_UI_PORT']) {
    expect([name, listeners(Number(env[name]))]).toEqual([name, ['127.0.0.1']]);
  }

  const postmaster = postmasterPid(dataDir);
  process.kill(supervisor.child.pid, 'SIGINT'); // what npm forwards on Ctrl-C
  await expect(supervisor.child.exited).resolves.toEqual({ code: 0, signal: null });
  const pids = [...Object.values(state.processes), postmaster];
  supervisor = undefined;
  expect(pids.filter(isAlive)).toEqual([]);
  expect(fs.existsSync(stateFile)).toBe(false);
});
