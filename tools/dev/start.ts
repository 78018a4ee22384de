/**
 * `npm start`: the one supervisor of the development system (docs/api.md#processes). `npm run start:cluster`
 * (`--cluster`) is the same supervisor on the production topology: a real Temporal cluster on its
 * own Postgres (four service processes and the Web UI, tools/dev/cluster/), two workers and two
 * checkout API replicas.
 *
 * Starts Postgres and the Temporal dev server (unless DATABASE_URL / TEMPORAL_ADDRESS point
 * elsewhere), then every application process as its own child in its own process group, waits
 * until each is ready (see tools/dev/processes.ts), prints a banner and writes the same facts to
 * config.stateFile. A child that dies is reported loudly and takes the whole system down with a
 * non-zero exit: no silent restarts, a half-running saga system would only hide the failure.
 * SIGINT/SIGTERM stop everything: application processes first, then Temporal and Postgres.
 * A killed supervisor (SIGKILL) cannot clean up: the next start stops what it left behind.
 */
import fs from 'node:fs';
import path from 'node:path';
import { handleShutdown } from '../../src/platform/bootstrap';
import { BIND_ENV, DEV_API_KEY, isWildcard, listenerOf, loadConfig, localAddress, portEnv, withDatabase, type Config, type Listener } from '../../src/platform/config';
import { describeExit, spawnChild, type ChildHandle } from './child';
import { PidDir, runs } from './leftovers';
import { ensureDatabases, stopLeftoverPostgres } from './postgres';
import { clusterProcesses, PROCESSES, ROOT, startProcess } from './processes';
import { startClusterInfrastructure } from './cluster/infrastructure';
import { TEMPORAL_SERVICES } from './cluster/temporal-cluster';
import { TEMPORAL_SERVER_VERSION } from './cluster/binaries';
import { locateTemporalCli } from './temporal-cli';
import { configuredDevServer, startTemporalServer, waitForTemporal } from './temporal-server';
import { configSecrets, redactSecrets, redactUrl } from './redact';
import { freePort, portFree } from './wait';
import { writeWorkflowBundle } from './workflow-bundle';

const CLUSTER = process.argv.includes('--cluster');
const CLUSTER_INFRA = ['temporal-postgres', ...TEMPORAL_SERVICES.map((s) => `temporal-${s}`), 'temporal-ui'];
const NAME_WIDTH = Math.max(...[...PROCESSES.map((p) => p.name), 'postgres', 'temporal', 'start', ...(CLUSTER ? CLUSTER_INFRA : [])].map((n) => n.length));
const COLORS = [36, 33, 35, 32, 34, 96, 93, 95];
const useColor = process.stdout.isTTY === true;

/**
 * Secrets of the configuration (set once it is loaded): nothing the supervisor prints carries one,
 * whoever wrote the line (a child's error message included), nor a password in a URL.
 */
let secrets: string[] = [];

/** Prints `name | line` for one source of output, colour-coded on a terminal. */
function prefixer(name: string, index: number): (line: string) => void {
  const label = name.padEnd(NAME_WIDTH);
  const prefix = useColor ? `\x1b[${COLORS[index % COLORS.length]}m${label} |\x1b[0m ` : `${label} | `;
  return (line) => process.stdout.write(`${prefix}${redactSecrets(line, secrets)}\n`);
}
const say = prefixer('start', 7);

function shout(message: string): void {
  const text = `!!! ${redactSecrets(message, secrets)}`;
  process.stderr.write(`\n${useColor ? `\x1b[1;31m${text}\x1b[0m` : text}\n\n`);
}

/** The embedded Postgres clusters a run may have: the services' one, and Temporal's in --cluster. */
function clusterDirs(config: Config): string[] {
  return [path.join(config.dataDir, 'postgres'), path.join(config.dataDir, 'temporal-postgres', 'postgres')];
}

/**
 * Refuses to run beside another live supervisor on the same data folder; clears what a killed one
 * left behind: its children's process groups (SIGKILL, and a wait until every member has exited),
 * server processes and a stale postmaster.pid of its Postgres, then waits (bounded) for the ports.
 */
async function claimDataDir(config: Config, pids: PidDir): Promise<void> {
  const lock = path.join(config.dataDir, 'supervisor.pid');
  const other = Number(fs.existsSync(lock) ? fs.readFileSync(lock, 'utf8') : 0);
  if (other && other !== process.pid && runs({ pid: other, marker: 'tools/dev/start' })) {
    throw new Error(`npm start is already running (pid ${other}) on ${config.dataDir}; stop it first (Ctrl-C there, or kill ${other})`);
  }
  const killed = await pids.sweep();
  if (killed.length) say(`stopped ${killed.length} process(es) left behind by an earlier run that was killed: ${killed.join(', ')}`);
  for (const dir of clusterDirs(config)) await stopLeftoverPostgres(dir, say);
  fs.writeFileSync(lock, String(process.pid));
  if (other || killed.length) await waitForPorts(config);
}

/**
 * After a killed run, its listeners may take a moment to let go of their ports; a port that stays
 * taken is left to the check of whoever binds it (Postgres moves, Temporal and the services say so).
 */
async function waitForPorts(config: Config): Promise<void> {
  const names: (keyof Config['ports'])[] = ['api', 'payment', 'order', 'notification', 'mailboxHttp', 'mailboxSmtp'];
  if (config.temporal.embedded) names.push('temporal', 'temporalUi');
  if (config.embeddedPostgres) names.push('postgres');
  if (CLUSTER) names.push('apiReplica', 'temporalPostgres');
  const deadline = Date.now() + 5_000;
  let taken = names;
  while (taken.length && Date.now() < deadline) {
    taken = (await Promise.all(taken.map(async (p) => ((await portFree(config.binds[listenerOf(p)], config.ports[p])) ? undefined : p)))).filter(
      (p): p is keyof Config['ports'] => p !== undefined,
    );
    if (taken.length) await new Promise((r) => setTimeout(r, 100));
  }
}

/** The embedded Postgres takes "5432 or a free port" (docs/api.md#processes): a taken default port moves, an explicit one does not. */
async function choosePostgresPort(config: Config): Promise<Record<string, string>> {
  if (!config.embeddedPostgres || process.env[portEnv('postgres')] || (await portFree(config.binds.postgres, config.ports.postgres))) return {};
  const port = await freePort(config.binds.postgres);
  say(`port ${config.ports.postgres} is taken; the embedded Postgres uses ${port}`);
  return { [portEnv('postgres')]: String(port) };
}

/** Writes a file only this user can read: created 0600, and an existing one chmodded first. */
function writePrivate(file: string, text: string): void {
  if (fs.existsSync(file)) fs.chmodSync(file, 0o600);
  fs.writeFileSync(file, text, { mode: 0o600 });
}

const PUBLIC_BY_DESIGN: readonly Listener[] = ['api', 'temporalUi'];
const LISTENER_NAMES: Record<Listener, string> = {
  api: 'the checkout API',
  temporalUi: 'the Temporal Web UI',
  temporal: "Temporal's gRPC (no authentication)",
  payment: 'the payment service',
  order: 'the order service',
  notification: 'the notification service',
  mailbox: 'the mailbox',
  worker: "the worker's metrics",
  postgres: 'Postgres',
  temporalPostgres: "Temporal's Postgres",
};

/**
 * The listeners of this run bound to something other than loopback ("API_HOST=0.0.0.0 (the
 * checkout API)"); an internal one is also said loudly, as it was asked for one by one.
 */
function exposedListeners(config: Config): string[] {
  const used: Listener[] = ['api', 'payment', 'order', 'notification', 'mailbox', 'worker'];
  if (config.temporal.embedded) used.push('temporal', 'temporalUi');
  if (config.embeddedPostgres) used.push('postgres');
  if (CLUSTER) used.push('temporalPostgres');
  const loopback = (h: string) => h === 'localhost' || h === '::1' || h.startsWith('127.');
  return used
    .filter((l) => !loopback(config.binds[l]))
    .map((l) => {
      const bind = config.binds[l];
      if (!PUBLIC_BY_DESIGN.includes(l)) say(`${BIND_ENV[l]}=${bind}: ${LISTENER_NAMES[l]} listens ${isWildcard(bind) ? 'on every interface' : `on ${bind}`}, beyond this machine`);
      const variable = l === 'api' && !process.env[BIND_ENV.api] ? 'HOST' : BIND_ENV[l];
      return `${variable}=${bind} (${LISTENER_NAMES[l]})`;
    });
}

function curlExample(config: Config, apiKey: string): string {
  const body = {
    customerId: 'cus_123',
    email: 'a@example.com',
    currency: 'USD',
    items: [{ sku: 'SKU-1', quantity: 2, unitAmount: 1999 }],
    paymentMethod: 'tok_visa',
  };
  return [
    `curl -i -X POST ${config.apiUrl}/checkouts \\`,
    `  -H 'Authorization: Bearer ${apiKey}' \\`,
    // Node is on every machine that runs this; uuidgen is not.
    `  -H "Idempotency-Key: $(node -e 'console.log(crypto.randomUUID())')" \\`,
    `  -H 'Content-Type: application/json' -H 'Prefer: wait=10' \\`,
    `  -d '${JSON.stringify(body)}'`,
  ].join('\n');
}

function rethrowFailures(results: PromiseSettledResult<unknown>[]): void {
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length) throw new Error(failed.map((f) => (f.reason as Error).message).join('\n\n'));
}

/** The embedded dev server, or a wait for TEMPORAL_ADDRESS; returns the Web UI URL. */
async function startTemporal(config: Config, env: NodeJS.ProcessEnv, track: (child: ChildHandle, marker: string) => void): Promise<string> {
  if (CLUSTER) {
    if (!config.temporal.embedded) throw new Error(`start:cluster runs its own Temporal cluster; unset TEMPORAL_ADDRESS (${config.temporal.address}) or use npm start`);
    let colour = 0;
    const lines = new Map<string, (line: string) => void>();
    const line = (name: string) => lines.get(name) ?? lines.set(name, prefixer(name, colour++)).get(name)!;
    return startClusterInfrastructure(config, env, { line, track, log: say });
  }
  if (!config.temporal.embedded) {
    await waitForTemporal(config.temporal.connection, config.temporal.namespace, 30_000, { log: say });
    return config.temporal.uiUrl;
  }
  const cliPath = await locateTemporalCli({ cliPath: config.temporal.cliPath, log: say });
  if (!(await portFree(config.binds.temporal, config.ports.temporal))) {
    throw new Error(
      `port ${config.ports.temporal} (Temporal gRPC) is taken; set ${portEnv('temporal')}/${portEnv('temporalUi')} or stop what uses it`,
    );
  }
  await startTemporalServer({
    ...configuredDevServer(config, cliPath),
    onLine: prefixer('temporal', 5),
    onSpawn: (child) => track(child, 'start-dev'),
  });
  return config.temporal.uiUrl;
}

/**
 * The embedded cluster runs in a child (tools/dev/postgres-main.ts) of its own process group, so that a
 * Ctrl-C in the terminal does not stop the database under the services: they stop first, then
 * it does. With DATABASE_URL there is nothing to run: the databases are just made.
 */
async function startPostgres(config: Config, env: NodeJS.ProcessEnv, track: (child: ChildHandle, marker: string) => void): Promise<void> {
  if (!config.embeddedPostgres) return ensureDatabases(config.databaseUrls);
  const script = path.join(ROOT, 'tools', 'dev', 'postgres-main.ts');
  const child = spawnChild('postgres', process.execPath, ['--import', 'tsx', script], { env, cwd: ROOT, onLine: prefixer('postgres', 6) });
  track(child, script);
  await Promise.race([
    child.waitForLine(/^Postgres ready/),
    child.exited.then((e) => {
      throw new Error(`Postgres exited (${describeExit(e)}) before it was ready`);
    }),
  ]);
}

async function main(): Promise<void> {
  const started = Date.now();
  let config = loadConfig();
  secrets = configSecrets(config);
  fs.mkdirSync(config.dataDir, { recursive: true });
  // Only this user reads what the supervisor writes (a state file left by an older run included).
  if (fs.existsSync(config.stateFile)) fs.chmodSync(config.stateFile, 0o600);
  const pids = new PidDir(path.join(config.dataDir, 'pids'));
  await claimDataDir(config, pids);

  // Children see the same configuration: same data folder, and the Postgres port if it moved.
  const childEnv: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: config.dataDir, ...(await choosePostgresPort(config)) };
  config = loadConfig(childEnv);

  const children: ChildHandle[] = [];
  // The one signal helper (src/platform/bootstrap.ts): a second Ctrl-C waits for the first
  // shutdown, so no child is left behind; children stop in order: applications, then Temporal,
  // then the databases under both.
  const control = handleShutdown(
    async () => {
      const database = (c: ChildHandle) => c.name === 'postgres' || c.name === 'temporal-postgres';
      const temporal = (c: ChildHandle) => c.name.startsWith('temporal') && !database(c);
      await Promise.all(children.filter((c) => !database(c) && !temporal(c)).map((c) => c.stop()));
      await Promise.all(children.filter(temporal).map((c) => c.stop()));
      await Promise.all(children.filter(database).map((c) => c.stop()));
      for (const c of children) pids.remove(c.pid);
      fs.rmSync(config.stateFile, { force: true });
      fs.rmSync(path.join(config.dataDir, 'supervisor.pid'), { force: true });
      say('stopped');
    },
    { repeatedSignal: 'wait', log: say },
  );
  /** Stops everything and exits with `code`; never returns. */
  const shutdown = (reason: string, code: number): Promise<never> => {
    control.begin(reason, code);
    return new Promise<never>(() => undefined);
  };

  /** From spawn on, a child is stopped by shutdown and recorded for the leftover sweep. */
  const track = (child: ChildHandle, marker: string) => {
    children.push(child);
    pids.add({ pid: child.pid, marker });
  };
  /** Once everything is ready, any child's death ends the system, loudly. */
  const watch = (child: ChildHandle) =>
    void child.exited.then((exit) => {
      if (control.stopping) return;
      shout(`${child.name} DIED (${describeExit(exit)}) — stopping everything. Its last output:\n${child.tail().slice(-10).join('\n')}`);
      void shutdown(`${child.name} died`, 1);
    });

  try {
    // Settled, not Promise.all: if one fails, the other must have finished starting (and been
    // tracked) before shutdown, or it would be left running.
    // The workflow bundle is built once, meanwhile, for every worker (no webpack at each
    // worker's start, and none of its output in the terminal).
    const bundling = childEnv.WORKFLOW_BUNDLE_PATH
      ? Promise.resolve(childEnv.WORKFLOW_BUNDLE_PATH)
      : writeWorkflowBundle(path.join(config.dataDir, 'workflow-bundle.js'));
    const [pg, temporal, bundle] = await Promise.allSettled([startPostgres(config, childEnv, track), startTemporal(config, childEnv, track), bundling]);
    rethrowFailures([pg, temporal, bundle]);
    childEnv.WORKFLOW_BUNDLE_PATH = (bundle as PromiseFulfilledResult<string>).value;
    const temporalUi = (temporal as PromiseFulfilledResult<string>).value;
    say(`Postgres and Temporal ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    const results = await Promise.allSettled(
      (CLUSTER ? clusterProcesses(config) : PROCESSES).map((spec, i) =>
        startProcess(spec, { env: childEnv, onLine: prefixer(spec.name, i), onSpawn: (c) => track(c, spec.entry) }),
      ),
    );
    rethrowFailures(results);
    children.forEach(watch);

    const apiKey = config.apiKeys.has(DEV_API_KEY) ? DEV_API_KEY : '<one of your API_KEYS>';
    const replicaUrl = `http://${localAddress(config, 'apiReplica')}`;
    const facts = {
      topology: CLUSTER ? 'cluster' : 'development',
      apiUrl: config.apiUrl,
      apiUrls: CLUSTER ? [config.apiUrl, replicaUrl] : [config.apiUrl],
      docsUrl: `${config.apiUrl}/docs`,
      temporalUiUrl: temporalUi,
      temporalAddress: config.temporal.address,
      mailboxUrl: config.mailboxUrl,
      apiKey,
      // The password stays out: dev Postgres is postgres/postgres, any other is the operator's own.
      databaseUrl: redactUrl(withDatabase(config.databaseUrls.checkout, 'postgres')),
      curl: curlExample(config, apiKey),
      supervisorPid: process.pid,
      processes: Object.fromEntries(children.map((c) => [c.name, c.pid])),
      readyInMs: Date.now() - started,
    };
    writePrivate(config.stateFile, `${redactSecrets(JSON.stringify(facts, null, 2), secrets)}\n`);
    const exposed = exposedListeners(config);
    process.stdout.write(
      redactSecrets(
      [
        '',
        `checkout-saga is ready (${(facts.readyInMs / 1000).toFixed(1)} s) — Ctrl-C stops everything`,
        `  Checkout API  ${facts.apiUrl}   (OpenAPI: ${facts.docsUrl})`,
        ...(CLUSTER
          ? [
              `  API replica   ${replicaUrl}   (same database and task queue: either takes any request)`,
              `  Workers       worker-1, worker-2 on task queue "${config.temporal.taskQueue}"`,
              `  Temporal      ${config.temporal.address}: frontend, history, matching, worker (Temporal server ${TEMPORAL_SERVER_VERSION}) on Postgres :${config.ports.temporalPostgres}`,
            ]
          : []),
        `  Temporal UI   ${facts.temporalUiUrl}`,
        `  Mailbox       ${facts.mailboxUrl}`,
        `  API key       ${apiKey}`,
        `  State file    ${config.stateFile}`,
        ...(exposed.length ? [`  Beyond loopback: ${exposed.join(', ')}`] : []),
        '',
        '  Start a checkout:',
        facts.curl.replace(/^/gm, '    '),
        '',
      ].join('\n') + '\n',
      secrets,
      ),
    );
  } catch (err) {
    shout(`start failed: ${(err as Error).message}`);
    await shutdown('start failed', 1);
  }
}

void main().catch((err: unknown) => {
  shout(`start failed: ${(err as Error).message}`);
  process.exit(1);
});
