/**
 * A real Temporal cluster on Postgres, as a team deploys it, without Docker: the schemas applied
 * with Temporal's own SQL tool, the four services (frontend, history, matching, worker) each a
 * process of the full server binary, and the Web UI server against the frontend. Used by
 * `npm run start:cluster` (tools/dev/start.ts) and by the cluster tests.
 *
 * The server's configuration is generated here (JSON, which YAML parsers read as YAML) into
 * `<dir>/config/development.yaml`; the internal ports are fixed offsets of the frontend port
 * (7233 → history 7234, matching 7235, worker 7239, membership 6933…, as Temporal's own
 * development configuration), so a restarted service comes back where its peers expect it.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ConnectionOptions } from '@temporalio/client';
import { Client } from 'pg';
import { reachableAddress, reachableHost, withDatabase } from '../../../src/platform/config';
import { ensureDatabase } from '../../../src/platform/db/pool';
import { runQuietly } from '../binaries';
import { describeExit, ExitedError, spawnChild, type ChildHandle } from '../child';
import { waitForTemporal } from '../temporal-server';
import { httpOk, portFree, waitUntil } from '../wait';
import type { ClusterBinaries } from './binaries';

export const TEMPORAL_SERVICES = ['frontend', 'history', 'matching', 'worker'] as const;
export type TemporalService = (typeof TEMPORAL_SERVICES)[number];

/** Shards of the history service: fixed for the life of the database (Temporal cannot change it later). */
export const HISTORY_SHARDS = 4;

export interface ClusterTls {
  /** The frontend's certificate and key (PEM). */
  certFile: string;
  keyFile: string;
  /** The CA that signed it: the internal clients (history, worker service) verify the frontend with it. */
  caFile: string;
  /** The name in the certificate, which clients verify. */
  serverName: string;
}

export interface TemporalClusterOptions {
  binaries: ClusterBinaries;
  /** Folder for the generated configuration. */
  dir: string;
  /** Where the four services bind (config.binds.temporal). */
  host: string;
  frontendPort: number;
  /** Web UI port; omitted = no UI. */
  uiPort?: number;
  /** Where the Web UI binds (config.binds.temporalUi); default `host`. */
  uiHost?: string;
  /** Any database URL of the Postgres server that holds Temporal's two databases. */
  postgresUrl: string;
  databases?: { main: string; visibility: string };
  namespace: string;
  /** How the project's clients reach the frontend (config.temporal.connection): the readiness check and setup step use it. */
  connection: ConnectionOptions;
  /** TLS on the frontend; omitted = plain gRPC. */
  tls?: ClusterTls;
  onLine?: (service: string, line: string) => void;
  onSpawn?: (child: ChildHandle) => void;
  detached?: boolean;
  log?: (message: string) => void;
}

const DEFAULT_DATABASES = { main: 'temporal', visibility: 'temporal_visibility' };

/**
 * Temporal stores each service's membership port in a Postgres `smallint` (cluster_membership),
 * so a port above 32767 fails the service at start ("out of range for type smallint").
 */
export const MAX_MEMBERSHIP_PORT = 32_767;

/** Every port a service listens on, as offsets of the frontend's gRPC port. */
export function servicePorts(frontendPort: number): Record<TemporalService, { grpcPort: number; membershipPort: number; httpPort?: number }> {
  return {
    frontend: { grpcPort: frontendPort, membershipPort: frontendPort - 300, httpPort: frontendPort + 10 },
    history: { grpcPort: frontendPort + 1, membershipPort: frontendPort - 299 },
    matching: { grpcPort: frontendPort + 2, membershipPort: frontendPort - 298 },
    worker: { grpcPort: frontendPort + 6, membershipPort: frontendPort - 294 },
  };
}

/** The server configuration (pure, so it is tested without a server). */
export function temporalServerConfig(opts: TemporalClusterOptions): Record<string, unknown> {
  const db = new URL(opts.postgresUrl);
  const databases = opts.databases ?? DEFAULT_DATABASES;
  const datastore = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `${db.hostname}:${db.port || 5432}`,
      connectProtocol: 'tcp',
      user: decodeURIComponent(db.username),
      password: decodeURIComponent(db.password),
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const ports = servicePorts(opts.frontendPort);
  const tls = opts.tls
    ? {
        tls: {
          frontend: {
            server: { certFile: opts.tls.certFile, keyFile: opts.tls.keyFile },
            client: { rootCaFiles: [opts.tls.caFile], serverName: opts.tls.serverName },
          },
        },
      }
    : {};
  return {
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'postgres-default',
      visibilityStore: 'postgres-visibility',
      numHistoryShards: HISTORY_SHARDS,
      datastores: { 'postgres-default': datastore(databases.main, 20), 'postgres-visibility': datastore(databases.visibility, 10) },
    },
    global: { membership: { maxJoinDuration: '30s', broadcastAddress: reachableHost(opts.host) }, ...tls },
    services: Object.fromEntries(
      TEMPORAL_SERVICES.map((s) => [s, { rpc: { ...ports[s], bindOnIP: opts.host } }]),
    ),
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: { active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: reachableAddress(opts.host, opts.frontendPort) } },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    archival: { history: { state: 'disabled' }, visibility: { state: 'disabled' } },
    namespaceDefaults: { archival: { history: { state: 'disabled' }, visibility: { state: 'disabled' } } },
  };
}

/** The Web UI server configuration. */
export function uiServerConfig(opts: TemporalClusterOptions): Record<string, unknown> {
  return {
    temporalGrpcAddress: reachableAddress(opts.host, opts.frontendPort),
    host: opts.uiHost ?? opts.host,
    port: opts.uiPort,
    enableUi: true,
    defaultNamespace: opts.namespace,
    notifyOnNewVersion: false,
    cors: { cookieInsecure: true, allowOrigins: [] },
    ...(opts.tls ? { tls: { caFile: opts.tls.caFile, serverName: opts.tls.serverName, enableHostVerification: true } } : {}),
  };
}

function writeConfig(dir: string, config: Record<string, unknown>): void {
  fs.mkdirSync(path.join(dir, 'config'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'config', 'development.yaml'), `${JSON.stringify(config, null, 2)}\n`);
}

/** `sql` tool arguments for one database; the global flags must come before the subcommand. */
function sqlToolArgs(postgresUrl: string, database: string, subcommand: string[]): string[] {
  const db = new URL(postgresUrl);
  return [
    '--plugin', 'postgres12',
    '--ep', db.hostname,
    '-p', db.port || '5432',
    '-u', decodeURIComponent(db.username),
    '--pw', decodeURIComponent(db.password),
    '--db', database,
    ...subcommand,
  ];
}

async function queryOne(url: string, sql: string): Promise<boolean> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ yes: boolean }>(sql);
    return rows[0]?.yes === true;
  } finally {
    await client.end();
  }
}

const hasSchemaVersionTable = (url: string) => queryOne(url, `SELECT to_regclass('public.schema_version') IS NOT NULL AS yes`);
const hasClusterMetadata = (url: string) => queryOne(url, `SELECT EXISTS (SELECT 1 FROM cluster_metadata_info) AS yes`);

/**
 * Creates Temporal's two databases if missing and brings their schemas to the versions embedded
 * in the tool (`setup-schema -v 0.0` once, then `update-schema` to the newest). Idempotent: on a
 * database already current, update-schema finds nothing to apply.
 */
export async function applyTemporalSchemas(
  sqlTool: string,
  postgresUrl: string,
  log: (m: string) => void,
  databases = DEFAULT_DATABASES,
): Promise<void> {
  const schemas: [string, string][] = [
    [databases.main, 'postgresql/v12/temporal'],
    [databases.visibility, 'postgresql/v12/visibility'],
  ];
  for (const [database, schemaName] of schemas) {
    await ensureDatabase(withDatabase(postgresUrl, 'postgres'), database);
    const url = withDatabase(postgresUrl, database);
    if (!(await hasSchemaVersionTable(url))) {
      log(`${database}: setting up the schema version tables`);
      await runQuietly(`sql setup-schema (${database})`, sqlTool, sqlToolArgs(postgresUrl, database, ['setup-schema', '-v', '0.0']), process.env);
    }
    await runQuietly(`sql update-schema (${database})`, sqlTool, sqlToolArgs(postgresUrl, database, ['update-schema', '--schema-name', schemaName]), process.env);
    log(`${database}: schema ${schemaName} is current`);
  }
}

function configRoot(dir: string): string[] {
  return ['--root', dir, '--config', 'config', '--env', 'development'];
}

/** Spawns one Temporal service (its own process); readiness is the cluster's, see startTemporalCluster. */
export function spawnTemporalService(opts: TemporalClusterOptions, service: TemporalService): ChildHandle {
  const name = `temporal-${service}`;
  const child = spawnChild(name, opts.binaries.server, [...configRoot(opts.dir), '--allow-no-auth', 'start', '--service', service], {
    onLine: (line) => opts.onLine?.(name, line),
    detached: opts.detached,
    quietOnStop: true,
  });
  opts.onSpawn?.(child);
  return child;
}

/** Spawns the Web UI server and waits until it answers HTTP. */
export async function startTemporalUi(opts: TemporalClusterOptions): Promise<ChildHandle> {
  const dir = path.join(opts.dir, 'ui');
  writeConfig(dir, uiServerConfig(opts));
  const child = spawnChild('temporal-ui', opts.binaries.uiServer, [...configRoot(dir), 'start'], {
    onLine: (line) => opts.onLine?.('temporal-ui', line),
    detached: opts.detached,
    quietOnStop: true,
  });
  opts.onSpawn?.(child);
  const died = child.exited.then((e): never => {
    throw new ExitedError(`the Temporal Web UI server exited (${describeExit(e)}) before it was ready:\n${child.tail().join('\n')}`);
  });
  await waitUntil(() => httpOk(`http://${reachableAddress(opts.uiHost ?? opts.host, opts.uiPort!)}/`), { what: `the Temporal Web UI on port ${opts.uiPort}`, timeoutMs: 30_000, intervalMs: 200, abort: died });
  return child;
}

export interface TemporalClusterHandle {
  address: string;
  uiUrl: string | undefined;
  /** The four services and the UI, by name (`temporal-frontend`, …, `temporal-ui`). */
  children: Map<string, ChildHandle>;
}

/**
 * Applies the schemas, starts the four services, waits until the frontend serves the namespace
 * with its search attributes (the one setup step, which creates them), then starts the UI.
 * Temporal's Postgres must be running. On a failure every process started here is stopped.
 */
/** Why the cluster cannot use this frontend port, or undefined when it can. */
export function frontendPortProblem(frontendPort: number): string | undefined {
  const ports = Object.values(servicePorts(frontendPort));
  const membership = ports.map((p) => p.membershipPort);
  const lowest = Math.min(...membership);
  const highest = Math.max(...membership);
  const min = frontendPort - lowest + 1024;
  const max = MAX_MEMBERSHIP_PORT - (highest - frontendPort);
  if (lowest >= 1024 && highest <= MAX_MEMBERSHIP_PORT && frontendPort + 10 <= 65_535) return undefined;
  return (
    `TEMPORAL_PORT=${frontendPort} puts the cluster's membership ports at ${lowest}-${highest}, and Temporal stores them ` +
    `as a Postgres smallint (at most ${MAX_MEMBERSHIP_PORT}); choose TEMPORAL_PORT between ${min} and ${max} (default 7233)`
  );
}

export async function startTemporalCluster(opts: TemporalClusterOptions): Promise<TemporalClusterHandle> {
  const log = opts.log ?? (() => undefined);
  const portProblem = frontendPortProblem(opts.frontendPort);
  if (portProblem) throw new Error(portProblem);
  const busy = [];
  for (const [service, ports] of Object.entries(servicePorts(opts.frontendPort))) {
    for (const port of [ports.grpcPort, ports.membershipPort, ports.httpPort].filter((p): p is number => p !== undefined)) {
      if (!(await portFree(opts.host, port))) busy.push(`${port} (${service})`);
    }
  }
  if (opts.uiPort !== undefined && !(await portFree(opts.uiHost ?? opts.host, opts.uiPort))) busy.push(`${opts.uiPort} (Web UI)`);
  if (busy.length) throw new Error(`the Temporal cluster needs these ports, which are taken: ${busy.join(', ')}; set TEMPORAL_PORT / TEMPORAL_UI_PORT or stop what uses them`);

  await applyTemporalSchemas(opts.binaries.sqlTool, opts.postgresUrl, log, opts.databases);
  writeConfig(opts.dir, temporalServerConfig(opts));
  const children = new Map<string, ChildHandle>();
  try {
    const started = Date.now();
    const diedEarly = (c: ChildHandle) =>
      c.exited.then((e): never => {
        const tail = c.tail().slice(-8).map((l) => l.slice(0, 400));
        throw new ExitedError(`${c.name} exited (${describeExit(e)}) before the cluster was ready:\n${tail.join('\n')}`);
      });
    // Every service writes the cluster's metadata on a fresh database, and a second one racing
    // the first fails on the duplicate row: the frontend goes first, the others once it is there.
    const frontend = spawnTemporalService(opts, 'frontend');
    children.set(frontend.name, frontend);
    const mainUrl = withDatabase(opts.postgresUrl, (opts.databases ?? DEFAULT_DATABASES).main);
    await waitUntil(() => hasClusterMetadata(mainUrl), { what: 'the cluster metadata', timeoutMs: 60_000, intervalMs: 200, abort: diedEarly(frontend) });
    for (const service of TEMPORAL_SERVICES.filter((s) => s !== 'frontend')) children.set(`temporal-${service}`, spawnTemporalService(opts, service));
    const died = Promise.race([...children.values()].map(diedEarly));
    await waitForTemporal(opts.connection, opts.namespace, 120_000, { abort: died, log });
    log(`four Temporal services ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (opts.uiPort !== undefined) children.set('temporal-ui', await startTemporalUi(opts));
  } catch (err) {
    await Promise.all([...children.values()].map((c) => c.stop()));
    throw err;
  }
  return {
    address: reachableAddress(opts.host, opts.frontendPort),
    uiUrl: opts.uiPort === undefined ? undefined : `http://${reachableAddress(opts.uiHost ?? opts.host, opts.uiPort)}`,
    children,
  };
}
