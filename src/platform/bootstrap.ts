/**
 * The one way a process of the system starts and stops: the API, the worker, the services and
 * the development mailbox all run through `runProcess`; the development supervisor and the
 * scripts that run Postgres or Temporal alone use its signal helper, `handleShutdown`.
 *
 *   config (loadConfig, a ConfigError ends the process before anything starts)
 *   → the process's own start (database wait and migrations through `prepareDatabase`,
 *     listeners, Temporal connections)
 *   → on the first SIGTERM/SIGINT: the process's explicit `shutdown` hook, bounded by
 *     `config.shutdownTimeoutMs`; a second signal, or a shutdown past the bound, exits at once.
 *
 * What a shutdown hook must do (each process's `start` returns one):
 *  - HTTP processes: `app.close()`, which stops accepting connections and lets in-flight
 *    requests finish (fastify answers 503 to new requests on kept-alive connections meanwhile);
 *    then the pools and clients.
 *  - the worker: `worker.shutdown()`, which stops polling and lets running activities finish
 *    within the worker's grace time, then awaits `worker.run()`.
 * Whatever a cut-off shutdown interrupts loses nothing: an idempotent request's transaction
 * rolls back and its claim's lease lets a retry take over; an activity is retried by Temporal.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Pool } from 'pg';
import { loadConfig, withDatabase, type Config } from './config';
import { migrate } from './db/migrate';
import { ensureDatabase } from './db/pool';

export interface ShutdownOptions {
  /** The bound on `stop`; past it the process exits with 1. Undefined: no bound. */
  timeoutMs?: number;
  log?: (message: string) => void;
  /**
   * What a second signal during the shutdown does: `exit` at once (an impatient operator), or
   * `wait` for the first shutdown (a supervisor that must stop its children before it goes).
   */
  repeatedSignal?: 'exit' | 'wait';
  /** Exit code after a signal-started shutdown that went well; default 0 (a requested stop). */
  signalExitCode?: number;
}

export interface ShutdownControl {
  /** Starts the shutdown as a signal would (once); the process exits with `code` when it is done. */
  begin(reason: string, code?: number): void;
  /** True from the first signal (or `begin`) on: an exit it causes is not a crash. */
  readonly stopping: boolean;
}

/**
 * The one signal helper: runs `stop` once on the first SIGINT/SIGTERM (or `begin`), then exits
 * with 0 (1 if `stop` failed or passed `timeoutMs`).
 */
export function handleShutdown(stop: () => Promise<void>, opts: ShutdownOptions = {}): ShutdownControl {
  const log = opts.log ?? ((message: string) => process.stderr.write(`${message}\n`));
  let stopping = false;
  const begin = (reason: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    log(`${reason}: shutting down`);
    if (opts.timeoutMs !== undefined) {
      setTimeout(() => {
        log(`shutdown did not finish within ${opts.timeoutMs} ms; exiting`);
        process.exit(1);
      }, opts.timeoutMs).unref();
    }
    stop().then(
      () => process.exit(code),
      (err: unknown) => {
        log(`shutdown failed: ${(err as Error)?.stack ?? String(err)}`);
        process.exit(1);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (!stopping) return begin(signal, opts.signalExitCode);
    if (opts.repeatedSignal !== 'wait') {
      log(`${signal} again: exiting without waiting`);
      process.exit(1);
    }
  };
  process.on('SIGTERM', onSignal).on('SIGINT', onSignal);
  return {
    begin,
    get stopping() {
      return stopping;
    },
  };
}

/** Postgres may still be starting when a supervisor launches everything at once. */
const DB_STARTUP_ATTEMPTS = 30;
/** Refused, or "the database system is starting up / shutting down". */
const DB_NOT_READY = new Set(['ECONNREFUSED', '57P03', '57P01']);

/**
 * Waits for the database server, creates the database if it is missing, and runs the migrations
 * (each folder in order). Retries while Postgres is not accepting connections yet.
 */
export async function prepareDatabase(url: string, pool: Pool, migrations: string[], log: (message: string) => void): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      const database = decodeURIComponent(new URL(url).pathname.slice(1));
      await ensureDatabase(withDatabase(url, 'postgres'), database);
      await migrate(pool, migrations);
      return;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (!code || !DB_NOT_READY.has(code) || attempt >= DB_STARTUP_ATTEMPTS) throw err;
      log(`database not ready (${code}), retrying`);
      await sleep(1_000);
    }
  }
}

export interface RunningProcess {
  /** The explicit graceful stop (see the file comment); called once, bounded by the shutdown timeout. */
  shutdown(): Promise<void>;
  /**
   * Settles if the process's main loop ends by itself (the worker's `run()`): a rejection exits
   * with 1, a resolution runs the shutdown and exits with 0.
   */
  ended?: Promise<void>;
}

export interface ProcessDefinition {
  /** Prefixes the bootstrap's own messages. */
  name: string;
  start(config: Config, log: (message: string) => void): Promise<RunningProcess>;
}

/** Runs one process of the system: config, start, signal handling and a bounded shutdown. */
export function runProcess(def: ProcessDefinition): void {
  const log = (message: string) => process.stderr.write(`${def.name}: ${message}\n`);
  const fail = (what: string, err: unknown) => {
    log(`${what}: ${(err as Error)?.stack ?? String(err)}`);
    process.exit(1);
  };
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    return fail('invalid configuration', err);
  }
  let running: RunningProcess | undefined;
  // Installed before the start, so a signal during a slow start (a database wait) still ends
  // the process; whatever the start had opened is released by the exit.
  const control = handleShutdown(async () => running?.shutdown(), { timeoutMs: config.shutdownTimeoutMs, log });
  def.start(config, log).then(
    (started) => {
      running = started;
      started.ended?.then(
        () => control.begin('main loop ended'),
        (err: unknown) => fail('failed', err),
      );
    },
    (err: unknown) => fail('failed to start', err),
  );
}
