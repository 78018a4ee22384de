/**
 * The Temporal CLI dev server (`temporal server start-dev`) as a child process, and the one
 * readiness check for any Temporal frontend (embedded or given by TEMPORAL_ADDRESS).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Connection, type ConnectionOptions } from '@temporalio/client';
import { reachableAddress, type Config } from '../../src/platform/config';
import { ensureTemporalSetup } from '../../src/temporal-setup/setup';
import { describeExit, ExitedError, spawnChild, type ChildHandle } from './child';
import { waitUntil } from './wait';

/**
 * SQLite pragmas for throughput. WAL lets readers (visibility queries, the UI) run beside the
 * single writer, and synchronous=NORMAL fsyncs at checkpoints instead of every commit: a power
 * loss may drop the last transactions of a dev server, never corrupt it. tools/bench/RESULTS.md has
 * the measured gain.
 */
export const TUNED_SQLITE_PRAGMAS: Readonly<Record<string, string>> = { journal_mode: 'wal', synchronous: 'normal' };

export interface TemporalServerOptions {
  cliPath: string;
  /** Where gRPC (and the server's HTTP API and metrics) bind. */
  host: string;
  port: number;
  /** Web UI port; omitted = headless (the test harness needs no UI). */
  uiPort?: number;
  /** Where the Web UI binds; default `host`. */
  uiHost?: string;
  namespace?: string;
  /** SQLite file for persistence across restarts; omitted = in memory. */
  dbFile?: string;
  /** Default TUNED_SQLITE_PRAGMAS; `{}` = SQLite defaults (the benchmark's baseline). */
  pragmas?: Readonly<Record<string, string>>;
  logLevel?: string;
  onLine?: (line: string) => void;
  detached?: boolean;
  readyTimeoutMs?: number;
  /** Called right after spawn, before readiness: lets the caller record the pid for clean-up. */
  onSpawn?: (child: ChildHandle) => void;
}

/** The persistent dev server of `npm start` / `npm run start:temporal`, as the config describes it. */
export function configuredDevServer(config: Config, cliPath: string): TemporalServerOptions {
  return {
    cliPath,
    host: config.binds.temporal,
    port: config.ports.temporal,
    uiPort: config.ports.temporalUi,
    uiHost: config.binds.temporalUi,
    namespace: config.temporal.namespace,
    dbFile: path.join(config.dataDir, 'temporal.sqlite'),
  };
}

export interface TemporalServerHandle {
  address: string;
  uiUrl: string | undefined;
  child: ChildHandle;
  stop(): Promise<void>;
}

/** The `start-dev` argument list (pure, so it is unit-tested without a server). */
export function devServerArgs(opts: TemporalServerOptions): string[] {
  const args = ['server', 'start-dev', '--ip', opts.host, '--port', String(opts.port)];
  args.push(...(opts.uiPort === undefined ? ['--headless'] : ['--ui-port', String(opts.uiPort)]));
  if (opts.dbFile) args.push('--db-filename', opts.dbFile);
  args.push('--namespace', opts.namespace ?? 'default', '--log-level', opts.logLevel ?? 'warn');
  for (const [k, v] of Object.entries(opts.pragmas ?? TUNED_SQLITE_PRAGMAS)) args.push('--sqlite-pragma', `${k}=${v}`);
  // The UI follows --ip unless told otherwise: each binds where its own setting says.
  if (opts.uiPort !== undefined && opts.uiHost) args.push('--ui-ip', opts.uiHost);
  return args;
}

/**
 * Waits until a frontend answers and the one setup step (src/temporal-setup/setup.ts: namespace,
 * search attributes) has succeeded on it: a gRPC port that accepts connections is not enough, a
 * full server answers before its history service is up, and the setup step's errors (Unavailable
 * while warming up) are retried until `timeoutMs`.
 */
export async function waitForTemporal(
  connection: ConnectionOptions,
  namespace: string,
  timeoutMs: number,
  opts: { abort?: Promise<never>; log?: (m: string) => void } = {},
): Promise<void> {
  await waitUntil(
    async () => {
      const conn = await Connection.connect({ connectTimeout: 1_000, ...connection });
      try {
        await ensureTemporalSetup(conn, namespace, { log: opts.log, timeoutMs: 5_000 });
        return true;
      } finally {
        await conn.close();
      }
    },
    { what: `Temporal at ${connection.address} (namespace ${namespace})`, timeoutMs, intervalMs: 200, abort: opts.abort },
  );
}

export async function startTemporalServer(opts: TemporalServerOptions): Promise<TemporalServerHandle> {
  if (opts.dbFile) fs.mkdirSync(path.dirname(opts.dbFile), { recursive: true });
  const child = spawnChild('temporal', opts.cliPath, devServerArgs(opts), {
    onLine: opts.onLine,
    detached: opts.detached,
    quietOnStop: true,
  });
  opts.onSpawn?.(child);
  const address = reachableAddress(opts.host, opts.port);
  const died = child.exited.then((e) => {
    throw new ExitedError(`the Temporal dev server exited (${describeExit(e)}) before it was ready:\n${child.tail().join('\n')}`);
  });
  try {
    await waitForTemporal({ address }, opts.namespace ?? 'default', opts.readyTimeoutMs ?? 60_000, { abort: died });
  } catch (err) {
    await child.stop();
    throw err;
  }
  return {
    address,
    uiUrl: opts.uiPort === undefined ? undefined : `http://${reachableAddress(opts.uiHost ?? opts.host, opts.uiPort)}`,
    child,
    stop: async () => {
      await child.stop();
    },
  };
}
