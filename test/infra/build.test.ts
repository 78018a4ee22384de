/**
 * The production build: `npm run build` into a temp folder laid out as the image is (/app/dist
 * beside /app/node_modules), then the built processes run by plain `node` (no tsx, working folder
 * the temp folder, NODE_ENV=production) on the harness's Postgres and Temporal: every service and
 * the API answer /healthz with their migrations copied and applied, the built setup step runs, and
 * checkouts through the built API complete on the built worker, once with the worker bundling
 * dist/workflows at start and once with the prebuilt dist/workflow-bundle.js (as the image runs it).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { DEV_API_KEY, loadConfig, type Config } from '../../src/platform/config';
import { spawnChild, type ChildHandle } from '../../tools/dev/child';
import { PidDir } from '../../tools/dev/leftovers';
import { ensureDatabases } from '../../tools/dev/postgres';
import { ROOT, WORKER_READY_LINE } from '../../tools/dev/processes';
import { stackEnv, startProcess } from '../../tools/dev/sandbox/stack';
import { pidDirOf } from '../../tools/dev/sandbox/state';
import { freePort, httpOk, waitUntil } from '../../tools/dev/wait';
import { sampleCheckoutRequest } from '../../tools/support/samples';

jest.setTimeout(600_000);

let app: string;
let dist: string;
let env: NodeJS.ProcessEnv;
let config: Config;
const running = new Map<string, ChildHandle>();

/** `npm run build -- --out-dir <dir>`; resolves with its output, rejects with it on failure. */
function runBuild(outDir: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', 'build', '--', '--out-dir', outDir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('close', (code) => (code === 0 ? resolve(output) : reject(new Error(`npm run build exited ${code}:\n${output}`))));
  });
}

/** `node dist/<entry>` in the app folder; ready at /healthz on `port`, or at `worker ready`. */
async function startBuilt(name: string, entry: string, opts: { port?: keyof Config['ports']; env?: NodeJS.ProcessEnv } = {}): Promise<ChildHandle> {
  const childEnv = opts.env ?? env;
  const file = path.join(dist, entry);
  expect(fs.existsSync(file)).toBe(true);
  const child = spawnChild(name, process.execPath, [file], { env: childEnv, cwd: app, detached: false });
  new PidDir(pidDirOf(process.env.DATA_DIR!)).add({ pid: child.pid, marker: file });
  running.set(name, child);
  const died = child.exited.then((e): never => {
    throw new Error(`${name} exited (${JSON.stringify(e)}) before it was ready:\n${child.tail().join('\n')}`);
  });
  if (opts.port) {
    const url = `http://127.0.0.1:${loadConfig(childEnv).ports[opts.port]}/healthz`;
    await waitUntil(() => httpOk(url), { what: `${name} at ${url}`, timeoutMs: 60_000, intervalMs: 150, abort: died });
  } else {
    await Promise.race([child.waitForLine(WORKER_READY_LINE), died]);
  }
  // Plain node: nothing but the built file on its command line.
  expect(fs.readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0').filter(Boolean)).toEqual([process.execPath, file]);
  return child;
}

async function checkout(): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${config.apiUrl}/checkouts`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${DEV_API_KEY}`,
      'idempotency-key': `build-${randomBytes(6).toString('hex')}`,
      'content-type': 'application/json',
      prefer: 'wait=60',
    },
    body: JSON.stringify(sampleCheckoutRequest({ email: `built-${randomBytes(3).toString('hex')}@example.com` })),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function migrationsApplied(url: string): Promise<string[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<{ id: string }>('SELECT id FROM schema_migrations ORDER BY id')).rows.map((r) => r.id);
  } finally {
    await client.end();
  }
}

/** The .sql files of src/ under `folder` as schema_migrations names them (`<folder name>/<file>`). */
function sqlFiles(...folders: string[]): string[] {
  return folders.flatMap((f) => fs.readdirSync(path.join(ROOT, 'src', f)).filter((n) => n.endsWith('.sql')).map((n) => `${path.basename(f)}/${n}`));
}

beforeAll(async () => {
  app = fs.mkdtempSync(path.join(os.tmpdir(), 'build-test-'));
  // The image's layout: /app/node_modules (production dependencies) beside /app/dist.
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(app, 'node_modules'));
  dist = path.join(app, 'dist');
  const output = await runBuild(dist);
  expect(output).toMatch(/built .* JavaScript files, \d+ assets \(\d+ migrations\), workflow-bundle\.js/);

  env = await stackEnv(randomBytes(4).toString('hex'), { NODE_ENV: 'production', LOG_LEVEL: 'warn', WORKER_METRICS_PORT: String(await freePort()) });
  delete env.WORKFLOW_BUNDLE_PATH; // the harness's bundle is built from src/; the built worker uses its own
  config = loadConfig(env);
  await ensureDatabases(config.databaseUrls);
}, 600_000);

afterAll(async () => {
  await Promise.all([...running.values()].map((c) => c.stop(5_000)));
  if (app) fs.rmSync(app, { recursive: true, force: true });
});

test('the build has JavaScript for every entry, the migrations beside it, and a workflow bundle; no TypeScript', () => {
  for (const entry of ['services/checkout-api/main.js', 'services/payment/main.js', 'services/order/main.js', 'services/notification/main.js', 'worker/main.js', 'temporal-setup/main.js', 'workflows/index.js']) {
    expect([entry, fs.existsSync(path.join(dist, entry))]).toEqual([entry, true]);
  }
  const files = (dir: string, base = dir): string[] =>
    fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name), base) : [path.relative(base, path.join(dir, e.name))]));
  const built = files(dist);
  const sqlInSrc = files(path.join(ROOT, 'src')).filter((f) => f.endsWith('.sql'));
  expect(sqlInSrc.length).toBeGreaterThan(5);
  expect(built.filter((f) => f.endsWith('.sql')).sort()).toEqual(sqlInSrc.sort());
  expect(built.filter((f) => f.endsWith('.ts'))).toEqual([]);
  expect(fs.statSync(path.join(dist, 'workflow-bundle.js')).size).toBeGreaterThan(100_000);
});

test('built with node: the services and the API answer /healthz with their migrations applied; the setup step runs; a checkout completes on the built worker, bundling at start and with the prebuilt bundle', async () => {
  running.set('mailbox', await startProcess('mailbox', env, 'build-mailbox')); // development tooling: not part of the build
  await Promise.all([
    startBuilt('payment', 'services/payment/main.js', { port: 'payment' }),
    startBuilt('order', 'services/order/main.js', { port: 'order' }),
    startBuilt('notification', 'services/notification/main.js', { port: 'notification' }),
    startBuilt('api', 'services/checkout-api/main.js', { port: 'api' }),
  ]);
  expect((await migrationsApplied(config.databaseUrls.payment)).sort()).toEqual(sqlFiles('platform/idempotency/migrations', 'services/payment/migrations').sort());
  expect((await migrationsApplied(config.databaseUrls.checkout)).sort()).toEqual(sqlFiles('services/checkout-api/migrations').sort());

  // The one setup step, built: on the harness's Temporal (already set up) it changes nothing.
  const setup = spawnChild('temporal-setup', process.execPath, [path.join(dist, 'temporal-setup', 'main.js')], { env, cwd: app, detached: false });
  expect(await setup.exited).toEqual({ code: 0, signal: null });
  expect(setup.tail().join('\n')).toMatch(/namespace default ready \(nothing to change\)/);

  // `node dist/worker/main.js` as is: it bundles dist/workflows at start.
  const bundling = await startBuilt('worker', 'worker/main.js');
  const first = await checkout();
  expect([first.status, first.body.status]).toEqual([201, 'completed']);
  expect(await bundling.stop(15_000)).toEqual({ code: 0, signal: null });

  // As the image runs it: the bundle the build wrote.
  await startBuilt('worker', 'worker/main.js', { env: { ...env, WORKFLOW_BUNDLE_PATH: path.join(dist, 'workflow-bundle.js') } });
  const second = await checkout();
  expect([second.status, second.body.status]).toEqual([201, 'completed']);

  // SIGTERM: each built process stops cleanly.
  for (const [name, child] of running) expect([name, await child.stop(15_000)]).toEqual([name, { code: 0, signal: null }]);
  running.clear();
});
