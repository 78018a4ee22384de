/**
 * A full stack for chaos runs, used by `test/chaos/*` and by `npm run chaos` (no jest needed:
 * it only wants DATA_DIR in the environment, and DATABASE_URL unless it runs its own Postgres).
 *
 * On top of tools/dev/sandbox/stack.ts it runs its OWN Temporal dev server, persistent in a SQLite
 * file: a chaos run restarts it, which must neither lose runs nor disturb other tests sharing
 * the harness's in-memory server. With `ownPostgres` it also runs its own embedded Postgres, for
 * the same reason: a chaos run stops it under load and starts it again (`postgres`).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig, type ServiceName } from '../../src/platform/config';
import type { ChaosTarget } from './run';
import { countFaults } from './plan';
import { spawnChild, type ChildHandle } from '../dev/child';
import { PidDir } from '../dev/leftovers';
import { POSTGRES_PASSWORD, POSTGRES_USER } from '../dev/postgres';
import { ROOT, type ProcessName } from '../dev/processes';
import { locateTemporalCli } from '../dev/temporal-cli';
import { startTemporalServer, type TemporalServerHandle } from '../dev/temporal-server';
import { freePort } from '../dev/wait';
import { pidDirOf } from '../dev/sandbox/state';
import { startStack, type Stack, type StackOptions } from '../dev/sandbox/stack';

/** Timeouts shortened so a chaos run spends its time on faults, not on waiting out defaults. */
export const CHAOS_ENV: Record<string, string> = {
  // A `delay` fault must outlast this to count as a timeout; see faultSpecs' delayMs.
  HTTP_TIMEOUT_MS: '3000',
  // Bounced e-mails dead-letter after 3 quick attempts instead of minutes of backoff.
  OUTBOX_MAX_ATTEMPTS: '3',
  OUTBOX_BACKOFF_BASE_MS: '200',
  OUTBOX_BACKOFF_MAX_MS: '1000',
  // Per-request info logs of six processes cost a core on a small machine; faults log at warn.
  LOG_LEVEL: 'warn',
  // countFaults reads the services' "injected fault" records from their log files.
  LOG_FORMAT: 'json',
};
export const CHAOS_DELAY_MS = 3_500;

export interface ChaosStackOptions {
  /** FAULTS spec per service (faultSpecs() or hand-written). */
  faults: Partial<Record<ServiceName, string>>;
  seed: number;
  /** Extra env for one process. */
  envFor?: Partial<Record<ServiceName | 'api' | 'worker' | 'mailbox', Record<string, string>>>;
  /** Another entry file for one process (see StackOptions.entryFor), e.g. a test's broken build. */
  entryFor?: StackOptions['entryFor'];
  /**
   * Run on an embedded Postgres of the stack's own (fsync off; its log in the run folder), which
   * `postgres.stop()` and `start()` take away and bring back without touching anyone else's databases.
   * Default: the databases live on DATABASE_URL (the harness's Postgres), which is never stopped.
   */
  ownPostgres?: boolean;
  log?: (line: string) => void;
}

interface OwnPostgres {
  /** tools/chaos/postgres-main.ts, the postmaster's parent. */
  child: ChildHandle;
  postmaster: number;
  url: string;
}

export interface ChaosStack extends ChaosTarget {
  stack: Stack;
  stop(): Promise<void>;
}

export async function startChaosStack(opts: ChaosStackOptions): Promise<ChaosStack> {
  const dataDir = process.env.DATA_DIR;
  if (!dataDir || (!process.env.DATABASE_URL && !opts.ownPostgres)) {
    throw new Error('DATA_DIR and DATABASE_URL must be set (jest global setup or tools/chaos/main.ts), or ownPostgres asked for');
  }
  const base = loadConfig();
  const pids = new PidDir(pidDirOf(dataDir));
  const runDir = path.join(dataDir, `chaos-${randomBytes(4).toString('hex')}`);
  fs.mkdirSync(runDir, { recursive: true });
  const cliPath = await locateTemporalCli({ cliPath: base.temporal.cliPath, log: opts.log ?? (() => undefined) });
  const temporalOptions = {
    cliPath,
    host: base.host,
    port: await freePort(base.host),
    dbFile: path.join(runDir, 'temporal.sqlite'),
    detached: false,
    // Recorded like every harness process, so teardown kills it if a test dies first.
    onSpawn: (c: { pid: number }) => pids.add({ pid: c.pid, marker: 'start-dev' }),
  };

  // Its own Postgres (tools/chaos/postgres-main.ts): the cluster in <runDir>/postgres, on one
  // port for every start. Its output (an outage makes every backend log a FATAL) goes to a file.
  const pgPort = await freePort(base.host);
  // As root the server runs as the `postgres` user, which must be able to reach the run folder
  // through DATA_DIR (a mkdtemp folder is 0700), as startEmbeddedPostgres does for its own folder.
  if (opts.ownPostgres && process.getuid?.() === 0) fs.chmodSync(dataDir, fs.statSync(dataDir).mode | 0o055);
  const pgLog = fs.createWriteStream(path.join(runDir, 'postgres.log'), { flags: 'a' });
  const startPostgres = async (): Promise<OwnPostgres> => {
    const child = spawnChild('postgres', process.execPath, ['--import', 'tsx', path.join(ROOT, 'tools/chaos/postgres-main.ts')], {
      env: { ...process.env, CHAOS_POSTGRES_DIR: runDir, CHAOS_POSTGRES_PORT: String(pgPort), HOST: base.host },
      cwd: ROOT,
      // Not detached: a Ctrl-C on jest (or on npm run chaos) reaches it too; stop() is a SIGTERM
      // to the script, which shuts the postmaster down fast (SIGINT).
      detached: false,
      onLine: (line) => pgLog.write(`${line}\n`),
    });
    pids.add({ pid: child.pid, marker: 'tools/chaos/postgres-main.ts' });
    try {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('did not start in 60 s')), 60_000);
      });
      const ready = await Promise.race([child.waitForLine(/chaos postgres ready/), late]).finally(() => clearTimeout(timer));
      const postmaster = Number(/pid=(\d+)/.exec(ready)?.[1]) || 0;
      // The postmaster too (its command line names the cluster): a SIGKILL of the script alone leaves it running.
      if (postmaster) pids.add({ pid: postmaster, marker: path.join(runDir, 'postgres') });
      return { child, postmaster, url: `postgres://${POSTGRES_USER}:${POSTGRES_PASSWORD}@${base.host}:${pgPort}/postgres` };
    } catch (err) {
      await child.stop(15_000);
      pids.remove(child.pid);
      throw new Error(`the chaos run's Postgres did not start: ${(err as Error).message}\n${child.tail().join('\n')}`);
    }
  };
  const stopPostgres = async (pg: OwnPostgres) => {
    await pg.child.stop(20_000);
    pids.remove(pg.child.pid);
    if (pg.postmaster) pids.remove(pg.postmaster);
  };

  const [temporalStart, postgresStart] = await Promise.allSettled([
    startTemporalServer(temporalOptions),
    opts.ownPostgres ? startPostgres() : Promise.resolve(undefined),
  ]);
  if (temporalStart.status === 'rejected' || postgresStart.status === 'rejected') {
    if (temporalStart.status === 'fulfilled') await temporalStart.value.stop();
    if (postgresStart.status === 'fulfilled' && postgresStart.value) await stopPostgres(postgresStart.value);
    throw ((temporalStart.status === 'rejected' ? temporalStart : postgresStart) as PromiseRejectedResult).reason;
  }
  let temporal: TemporalServerHandle = temporalStart.value;
  let postgres: OwnPostgres | undefined = postgresStart.value;
  // stack.ts insists on a harness Temporal; outside jest (npm run chaos) ours is the only one.
  process.env.TEMPORAL_ADDRESS ??= temporal.address;

  let stack: Stack;
  try {
    const seedEnv = (service: ServiceName) => ({ FAULTS: opts.faults[service] ?? '', FAULTS_SEED: String(opts.seed), ...opts.envFor?.[service] });
    stack = await startStack({
      env: { ...CHAOS_ENV, TEMPORAL_ADDRESS: temporal.address, ...(postgres && { DATABASE_URL: postgres.url }) },
      envFor: {
        payment: seedEnv('payment'),
        order: seedEnv('order'),
        notification: seedEnv('notification'),
        ...(opts.envFor?.api && { api: opts.envFor.api }),
        ...(opts.envFor?.worker && { worker: opts.envFor.worker }),
        ...(opts.envFor?.mailbox && { mailbox: opts.envFor.mailbox }),
      },
      entryFor: opts.entryFor,
    });
  } catch (err) {
    await temporal.stop();
    if (postgres) await stopPostgres(postgres);
    throw err;
  }

  // stack.ts writes each process's output to <DATA_DIR>/logs/<stack id>-<name>.log.
  const logFile = (name: ServiceName) => path.join(dataDir, 'logs', `${stack.id}-${name}.log`);
  return {
    stack,
    config: stack.config,
    apiUrl: stack.urls.api,
    apiKey: [...stack.config.apiKeys.keys()][0]!,
    // The dev-server stack runs one of each process: its names are PROCESSES' own.
    kill9: (name) => stack.kill9(name as ProcessName),
    restart: (name, env) => stack.restart(name as ProcessName, env),
    running: (name) => stack.process(name as ProcessName)?.running() ?? false,
    lastWords: (name) => stack.process(name as ProcessName)?.tail().slice(-8).join('\n') ?? '(no process: its last start failed)',
    restartTemporal: async () => {
      await temporal.stop();
      temporal = await startTemporalServer(temporalOptions);
    },
    ...(opts.ownPostgres && {
      postgres: {
        // A fast shutdown (SIGINT to the postmaster): open sessions are terminated, as when a server goes away.
        stop: async () => {
          if (postgres) await stopPostgres(postgres);
          postgres = undefined;
        },
        // The same data folder and port.
        start: async () => {
          postgres ??= await startPostgres();
        },
      },
    }),
    healthUrls: Object.fromEntries((['api', 'payment', 'order', 'notification', 'mailbox'] as const).map((n) => [n, `${stack.urls[n]}/healthz`])),
    faultCounts: () =>
      countFaults(
        (['payment', 'order', 'notification'] as const).flatMap((s) => (fs.existsSync(logFile(s)) ? fs.readFileSync(logFile(s), 'utf8').split('\n') : [])),
      ),
    stop: async () => {
      await stack.stop();
      await temporal.stop();
      if (postgres) await stopPostgres(postgres);
      postgres = undefined;
      pgLog.end();
    },
  };
}
