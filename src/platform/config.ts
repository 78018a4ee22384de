/**
 * The one place that knows every port, URL and tunable of the system.
 *
 * Every process reads its configuration through `loadConfig()`; nothing else reads
 * `process.env` for these values. Defaults are the embedded development setup
 * (docs/api.md#processes); each can be overridden by an environment variable so a process can be
 * pointed at real infrastructure or started on free ports by the test harness.
 */
import path from 'node:path';
import { loadClientConfigProfile, toClientOptions, type ClientConnectConfig } from '@temporalio/envconfig';
import { isTenantId, TENANT_ID_RULE } from './tenant';

export type ServiceName = 'payment' | 'order' | 'notification';
/** Databases in the one Postgres cluster: one per service plus the checkout API's own. */
export type DatabaseName = ServiceName | 'checkout';
export const DATABASES: readonly DatabaseName[] = ['payment', 'order', 'notification', 'checkout'];

export interface Config {
  /** Folder for Postgres data, the Temporal SQLite file, logs and the state file. */
  dataDir: string;
  stateFile: string;
  /**
   * The address each listener binds (BIND_ENV). Every one is loopback unless set on its own: only
   * the checkout API (API_HOST, or HOST) and the Temporal Web UI (TEMPORAL_UI_HOST) are meant to
   * face a network; Temporal's gRPC (no authentication in development), the services, the mailbox
   * and Postgres face one only when configured one by one.
   */
  binds: Record<Listener, string>;
  /**
   * @deprecated The loopback address, whatever the binds say: read `binds.<listener>` for where a
   * listener binds, and the derived URLs (`apiUrl`, `serviceUrls`, …) to reach one.
   */
  host: string;
  ports: {
    api: number;
    payment: number;
    order: number;
    notification: number;
    mailboxHttp: number;
    mailboxSmtp: number;
    postgres: number;
    temporal: number;
    temporalUi: number;
    /** The second checkout API replica of `npm run start:cluster`. */
    apiReplica: number;
    /** The Postgres of Temporal's own databases in `npm run start:cluster`. */
    temporalPostgres: number;
    /** The worker's Prometheus endpoint (`GET /metrics`: the Temporal SDK's metrics and the saga's compensations). */
    workerMetrics: number;
    /** The second worker's Prometheus endpoint in `npm run start:cluster`. */
    workerMetricsReplica: number;
  };
  /** Base URLs the worker uses to reach the services (no trailing slash). */
  serviceUrls: Record<ServiceName, string>;
  apiUrl: string;
  mailboxUrl: string;
  /** Postgres connection string per database. */
  databaseUrls: Record<DatabaseName, string>;
  /** True when Postgres is the embedded one this project starts itself. */
  embeddedPostgres: boolean;
  database: {
    /**
     * How long a request waits for a pooled connection (and /healthz for the database) before
     * it answers 503 + Retry-After: an exhausted pool or a database that is down never hangs a request.
     */
    acquireTimeoutMs: number;
  };
  temporal: {
    address: string;
    namespace: string;
    /**
     * How the worker and the API connect: Temporal's own environment configuration
     * (@temporalio/envconfig: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*,
     * TEMPORAL_PROFILE and TEMPORAL_CONFIG_FILE profiles), so the same build reaches a local dev
     * server, a self-hosted cluster over TLS or Temporal Cloud. The address defaults to the
     * embedded dev server.
     */
    connection: ClientConnectConfig['connectionOptions'];
    taskQueue: string;
    uiUrl: string;
    /** True when the dev server is started by this project (no TEMPORAL_ADDRESS given). */
    embedded: boolean;
    cliPath: string | undefined;
    /** How long the standalone setup step (src/temporal-setup/main.ts) waits for a frontend that is still starting. */
    setupTimeoutMs: number;
    /**
     * The frontend's certificate and key when `npm run start:cluster` serves TLS
     * (TEMPORAL_CLUSTER_TLS_CERT_PATH, TEMPORAL_CLUSTER_TLS_KEY_PATH); clients verify it with
     * TEMPORAL_TLS_SERVER_CA_CERT_PATH and TEMPORAL_TLS_SERVER_NAME like any Temporal.
     */
    clusterTls: { certFile: string; keyFile: string } | undefined;
    /** Explicit binaries for `npm run start:cluster` (TEMPORAL_SERVER_PATH, …); unset = the per-user cache. */
    clusterBinaries: { server: string | undefined; sqlTool: string | undefined; uiServer: string | undefined };
    /**
     * A prebuilt workflow bundle (WORKFLOW_BUNDLE_PATH) for the worker to load instead of bundling
     * `src/workflows/` with webpack at start: seconds per worker start, which matters when tests and
     * the chaos run start and kill workers many times.
     */
    workflowBundlePath: string | undefined;
  };
  /** Shared secret on every service-to-service call. */
  serviceToken: string;
  /** API key → merchant id. */
  apiKeys: Map<string, string>;
  smtpUrl: string;
  /** Fault-injection spec (docs/api.md#faults) for the process reading it; empty = off. */
  faults: string;
  faultsSeed: number;
  idempotency: {
    /** How long a completed key is kept before the purge makes it new again. */
    retentionMs: number;
    /** How long an in-flight claim is honoured before another request may take it over. */
    leaseMs: number;
    /** How long a duplicate waits for an in-flight original before answering 409. */
    waitMs: number;
    purgeIntervalMs: number;
  };
  /** The checkout API's own record of each checkout and refund (src/services/checkout-api/store.ts). */
  checkoutRecord: {
    /**
     * How long a finished checkout's record is kept (CHECKOUT_RECORD_RETENTION_MS, default 30
     * days: far beyond Temporal's retention). While kept, its key never starts a run again and
     * `GET` answers from it; after it, the key is new.
     */
    retentionMs: number;
    /** How often the API looks for runs that ended without anyone waiting, to record their outcome. */
    outcomeSweepIntervalMs: number;
  };
  /** The notification service's outbox dispatcher. */
  outbox: {
    /** How often the dispatcher looks for due messages when it found none. */
    pollIntervalMs: number;
    /** Send attempts before a message is dead-lettered. */
    maxAttempts: number;
    /** Retry n waits about base * 2^(n-1), capped at max (short in dev, minutes in production). */
    backoffBaseMs: number;
    backoffMaxMs: number;
  };
  /** Timeout of one HTTP call from an activity to a service; kept below the activity timeout. */
  httpTimeoutMs: number;
  /**
   * How long a process may take to stop after SIGTERM (in-flight requests drain, activities
   * finish) before it exits anyway (src/platform/bootstrap.ts).
   */
  shutdownTimeoutMs: number;
  logLevel: string;
  /**
   * LOG_FORMAT: `json` (one JSON record per line, for machines) or `pretty` (one readable line per
   * event, for a person). Default: json when NODE_ENV=production, else pretty.
   */
  logFormat: 'json' | 'pretty';
}

/** The pool acquire timeout when DB_ACQUIRE_TIMEOUT_MS is not set. */
export const DEFAULT_DB_ACQUIRE_TIMEOUT_MS = 3_000;

/** The API key made for development when API_KEYS is not set; printed in the banner. */
export const DEV_API_KEY = 'sk_test_dev_merchant';
export const DEV_MERCHANT = 'merchant_dev';
const DEV_SERVICE_TOKEN = 'dev-service-token';

/** The processes (and servers) that listen; the mailbox's HTTP and SMTP ports share its bind. */
export type Listener =
  | 'api'
  | 'temporalUi'
  | 'temporal'
  | 'payment'
  | 'order'
  | 'notification'
  | 'mailbox'
  | 'postgres'
  | 'temporalPostgres'
  /** The worker's metrics endpoint (its only listener). */
  | 'worker';

/** Where every listener binds unless its own variable says otherwise. */
export const LOOPBACK = '127.0.0.1';

/**
 * The one variable per listener that sets its bind address. `HOST`, the older single switch, is
 * an alias of API_HOST only (API_HOST wins): it no longer moves anything else off loopback.
 */
export const BIND_ENV: Record<Listener, string> = {
  api: 'API_HOST',
  temporalUi: 'TEMPORAL_UI_HOST',
  temporal: 'TEMPORAL_HOST',
  payment: 'PAYMENT_HOST',
  order: 'ORDER_HOST',
  notification: 'NOTIFICATION_HOST',
  mailbox: 'MAILBOX_HOST',
  postgres: 'POSTGRES_HOST',
  temporalPostgres: 'TEMPORAL_POSTGRES_HOST',
  worker: 'WORKER_METRICS_HOST',
};

/** The listener behind a port: each port is named after its listener, but for these. */
export function listenerOf(port: keyof Config['ports']): Listener {
  const name: string = port;
  if (name === 'apiReplica') return 'api';
  if (name.startsWith('mailbox')) return 'mailbox';
  if (name.startsWith('workerMetrics')) return 'worker';
  return name as Listener;
}

function binds(env: NodeJS.ProcessEnv): Record<Listener, string> {
  const out = {} as Record<Listener, string>;
  for (const [listener, name] of Object.entries(BIND_ENV) as [Listener, string][]) {
    const raw = env[name] || (listener === 'api' ? env.HOST : undefined) || LOOPBACK;
    if (/[\s/@]/.test(raw)) throw new ConfigError(`${name} must be an address or host name to bind, got "${raw}"`);
    out[listener] = raw;
  }
  return out;
}

/** True for a bind on every interface (0.0.0.0, ::), which a client on this machine reaches over loopback. */
export function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]';
}

/** The host a client on this machine uses for a listener bound to `bind`. */
export function reachableHost(bind: string): string {
  if (bind === '0.0.0.0') return LOOPBACK;
  if (bind === '::' || bind === '[::]') return '::1';
  return bind;
}

/** `host:port` by which a client on this machine reaches a listener bound to `bind` (IPv6 in brackets, as URLs want). */
export function reachableAddress(bind: string, port: number): string {
  const host = reachableHost(bind);
  return `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
}

/** `host:port` of a configured listener as a client on this machine reaches it. */
export function localAddress(config: Pick<Config, 'binds' | 'ports'>, port: keyof Config['ports']): string {
  return reachableAddress(config.binds[listenerOf(port)], config.ports[port]);
}

export const DEFAULT_PORTS: Config['ports'] = {
  api: 3000,
  payment: 3001,
  order: 3002,
  notification: 3003,
  mailboxHttp: 3004,
  mailboxSmtp: 2525,
  postgres: 5432,
  temporal: 7233,
  temporalUi: 8233,
  apiReplica: 3010,
  temporalPostgres: 5433,
  workerMetrics: 3005,
  workerMetricsReplica: 3015,
};

const PORT_ENV: Record<keyof Config['ports'], string> = {
  api: 'API_PORT',
  payment: 'PAYMENT_PORT',
  order: 'ORDER_PORT',
  notification: 'NOTIFICATION_PORT',
  mailboxHttp: 'MAILBOX_HTTP_PORT',
  mailboxSmtp: 'MAILBOX_SMTP_PORT',
  postgres: 'POSTGRES_PORT',
  temporal: 'TEMPORAL_PORT',
  temporalUi: 'TEMPORAL_UI_PORT',
  apiReplica: 'API_REPLICA_PORT',
  temporalPostgres: 'TEMPORAL_POSTGRES_PORT',
  workerMetrics: 'WORKER_METRICS_PORT',
  workerMetricsReplica: 'WORKER_METRICS_REPLICA_PORT',
};

/** The env variable that sets each port: the supervisor and test harness use it to pass ports down. */
export function portEnv(name: keyof Config['ports']): string {
  return PORT_ENV[name];
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new ConfigError(`${name} must be a non-negative integer, got "${raw}"`);
  return n;
}

export function parseApiKeys(raw: string): Map<string, string> {
  const keys = new Map<string, string>();
  for (const pair of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    const i = pair.lastIndexOf(':');
    if (i <= 0 || i === pair.length - 1) throw new ConfigError(`API_KEYS entry "${pair.slice(0, 4)}…" must be key:merchant`);
    const merchantId = pair.slice(i + 1);
    // The merchant id becomes the services' tenant: one they would refuse fails every checkout.
    if (!isTenantId(merchantId)) {
      throw new ConfigError(`API_KEYS merchant id "${merchantId}" is not a valid tenant id: it must be ${TENANT_ID_RULE}`);
    }
    keys.set(pair.slice(0, i), merchantId);
  }
  return keys;
}

/** Replaces the database name in a Postgres URL, so one DATABASE_URL serves every database. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/**
 * The Temporal client profile from `env` (and the profile file it names, if any) as connection
 * options; no address there = the embedded dev server at `defaultAddress`. A TLS file that cannot
 * be read is a ConfigError at start, not a confusing handshake failure later.
 */
function temporalConnection(env: NodeJS.ProcessEnv, defaultAddress: string): { embedded: boolean } & ClientConnectConfig {
  const vars = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
  try {
    const profile = loadClientConfigProfile({ overrideEnvVars: vars });
    return { embedded: !profile.address, ...toClientOptions({ ...profile, address: profile.address ?? defaultAddress }) };
  } catch (err) {
    throw new ConfigError(`Temporal connection settings (TEMPORAL_* / TEMPORAL_CONFIG_FILE): ${(err as Error).message}`);
  }
}

function logFormat(env: NodeJS.ProcessEnv): Config['logFormat'] {
  const raw = env.LOG_FORMAT || (env.NODE_ENV === 'production' ? 'json' : 'pretty');
  if (raw !== 'json' && raw !== 'pretty') throw new ConfigError(`LOG_FORMAT must be json or pretty, got "${raw}"`);
  return raw;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const dataDir = path.resolve(env.DATA_DIR ?? path.join(__dirname, '..', '..', '.data'));
  const ports = Object.fromEntries(
    (Object.keys(DEFAULT_PORTS) as (keyof Config['ports'])[]).map((k) => [k, int(env, PORT_ENV[k], DEFAULT_PORTS[k])]),
  ) as Config['ports'];
  const bind = binds(env);
  const at = (port: keyof Config['ports']) => localAddress({ binds: bind, ports }, port);

  const local = (port: keyof Config['ports']) => `http://${at(port)}`;
  const serviceUrls: Record<ServiceName, string> = {
    payment: env.PAYMENT_URL ?? local('payment'),
    order: env.ORDER_URL ?? local('order'),
    notification: env.NOTIFICATION_URL ?? local('notification'),
  };

  const embeddedPostgres = !env.DATABASE_URL && DATABASES.every((d) => !env[`${d.toUpperCase()}_DATABASE_URL`]);
  const baseDbUrl = env.DATABASE_URL ?? `postgres://postgres:postgres@${at('postgres')}/postgres`;
  const databaseUrls = Object.fromEntries(
    DATABASES.map((d) => [d, env[`${d.toUpperCase()}_DATABASE_URL`] ?? withDatabase(baseDbUrl, `saga_${d}`)]),
  ) as Record<DatabaseName, string>;

  const temporal = temporalConnection(env, at('temporal'));
  const uiHost = bind.temporalUi === LOOPBACK || isWildcard(bind.temporalUi) ? 'localhost' : at('temporalUi').replace(/:\d+$/, '');
  const uiUrl = env.TEMPORAL_UI_URL ?? `http://${uiHost}:${ports.temporalUi}`;

  return {
    dataDir,
    stateFile: path.join(dataDir, 'state.json'),
    binds: bind,
    host: LOOPBACK,
    ports,
    serviceUrls,
    apiUrl: env.API_URL ?? local('api'),
    mailboxUrl: env.MAILBOX_URL ?? local('mailboxHttp'),
    databaseUrls,
    embeddedPostgres,
    database: { acquireTimeoutMs: Math.max(1, int(env, 'DB_ACQUIRE_TIMEOUT_MS', DEFAULT_DB_ACQUIRE_TIMEOUT_MS)) },
    temporal: {
      address: temporal.connectionOptions.address!,
      namespace: temporal.namespace ?? 'default',
      connection: temporal.connectionOptions,
      taskQueue: env.TEMPORAL_TASK_QUEUE ?? 'checkout',
      uiUrl,
      embedded: temporal.embedded,
      cliPath: env.TEMPORAL_CLI_PATH || undefined,
      setupTimeoutMs: int(env, 'TEMPORAL_SETUP_TIMEOUT_MS', 120_000),
      clusterTls:
        env.TEMPORAL_CLUSTER_TLS_CERT_PATH && env.TEMPORAL_CLUSTER_TLS_KEY_PATH
          ? { certFile: env.TEMPORAL_CLUSTER_TLS_CERT_PATH, keyFile: env.TEMPORAL_CLUSTER_TLS_KEY_PATH }
          : undefined,
      clusterBinaries: {
        server: env.TEMPORAL_SERVER_PATH || undefined,
        sqlTool: env.TEMPORAL_SQL_TOOL_PATH || undefined,
        uiServer: env.TEMPORAL_UI_SERVER_PATH || undefined,
      },
      workflowBundlePath: env.WORKFLOW_BUNDLE_PATH || undefined,
    },
    serviceToken: env.SERVICE_TOKEN ?? DEV_SERVICE_TOKEN,
    apiKeys: parseApiKeys(env.API_KEYS ?? `${DEV_API_KEY}:${DEV_MERCHANT}`),
    smtpUrl: env.SMTP_URL ?? `smtp://${at('mailboxSmtp')}`,
    faults: env.FAULTS ?? '',
    faultsSeed: int(env, 'FAULTS_SEED', 1),
    idempotency: {
      retentionMs: int(env, 'IDEMPOTENCY_RETENTION_MS', 24 * 60 * 60 * 1000),
      leaseMs: int(env, 'IDEMPOTENCY_LEASE_MS', 30_000),
      waitMs: int(env, 'IDEMPOTENCY_WAIT_MS', 5_000),
      purgeIntervalMs: int(env, 'IDEMPOTENCY_PURGE_INTERVAL_MS', 60_000),
    },
    checkoutRecord: {
      retentionMs: int(env, 'CHECKOUT_RECORD_RETENTION_MS', 30 * 24 * 60 * 60 * 1000),
      outcomeSweepIntervalMs: Math.max(100, int(env, 'CHECKOUT_OUTCOME_SWEEP_MS', 2_000)),
    },
    outbox: {
      pollIntervalMs: int(env, 'OUTBOX_POLL_INTERVAL_MS', 250),
      maxAttempts: Math.max(1, int(env, 'OUTBOX_MAX_ATTEMPTS', 5)),
      backoffBaseMs: int(env, 'OUTBOX_BACKOFF_BASE_MS', 500),
      backoffMaxMs: int(env, 'OUTBOX_BACKOFF_MAX_MS', 30_000),
    },
    httpTimeoutMs: int(env, 'HTTP_TIMEOUT_MS', 5_000),
    shutdownTimeoutMs: int(env, 'SHUTDOWN_TIMEOUT_MS', 10_000),
    logLevel: env.LOG_LEVEL ?? 'info',
    logFormat: logFormat(env),
  };
}
