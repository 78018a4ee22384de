/**
 * A full stack for chaos runs, used by `test/chaos/*` and by `npm run chaos` (no jest needed:
 * it only wants DATA_DIR and DATABASE_URL in the environment, as the harness exports them).
 *
 * On top of tools/dev/sandbox/stack.ts it runs its OWN Temporal dev server, persistent in a SQLite
 * file: a chaos run restarts it, which must neither lose runs nor disturb other tests sharing
 * the harness's in-memory server.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig, type ServiceName } from '../../src/platform/config';
import type { ChaosTarget } from './run';
import { countFaults } from './plan';
import { PidDir } from '../dev/leftovers';
import { locateTemporalCli } from '../dev/temporal-cli';
import { startTemporalServer, type TemporalServerHandle } from '../dev/temporal-server';
import { freePort } from '../dev/wait';
import { pidDirOf } from '../dev/sandbox/state';
import { startStack, type Stack, type StackOptions } from '../dev/sandbox/stack';

/** Timeouts shortened so a chaos run spends its time on faults, not on waiting out defaults. */
const CHAOS_ENV: Record<string, string> = {
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
  log?: (line: string) => void;
}

export interface ChaosStack extends ChaosTarget {
  stack: Stack;
  stop(): Promise<void>;
}

export async function startChaosStack(opts: ChaosStackOptions): Promise<ChaosStack> {
  const dataDir = process.env.DATA_DIR;
  if (!dataDir || !process.env.DATABASE_URL) throw new Error('DATA_DIR and DATABASE_URL must be set (jest global setup or tools/chaos/main.ts)');
  const base = loadConfig();
  const cliPath = await locateTemporalCli({ cliPath: base.temporal.cliPath, log: opts.log ?? (() => undefined) });
  const temporalOptions = {
    cliPath,
    host: base.host,
    port: await freePort(base.host),
    dbFile: path.join(dataDir, `chaos-${randomBytes(4).toString('hex')}`, 'temporal.sqlite'),
    detached: false,
    // Recorded like every harness process, so teardown kills it if a test dies first.
    onSpawn: (c: { pid: number }) => new PidDir(pidDirOf(dataDir)).add({ pid: c.pid, marker: 'start-dev' }),
  };
  let temporal: TemporalServerHandle = await startTemporalServer(temporalOptions);
  // stack.ts insists on a harness Temporal; outside jest (npm run chaos) ours is the only one.
  process.env.TEMPORAL_ADDRESS ??= temporal.address;

  let stack: Stack;
  try {
    const seedEnv = (service: ServiceName) => ({ FAULTS: opts.faults[service] ?? '', FAULTS_SEED: String(opts.seed), ...opts.envFor?.[service] });
    stack = await startStack({
      env: { ...CHAOS_ENV, TEMPORAL_ADDRESS: temporal.address },
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
    throw err;
  }

  // stack.ts writes each process's output to <DATA_DIR>/logs/<stack id>-<name>.log.
  const logFile = (name: ServiceName) => path.join(dataDir, 'logs', `${stack.id}-${name}.log`);
  return {
    stack,
    config: stack.config,
    apiUrl: stack.urls.api,
    apiKey: [...stack.config.apiKeys.keys()][0]!,
    kill9: (name) => stack.kill9(name),
    restart: (name, env) => stack.restart(name, env),
    running: (name) => stack.process(name)?.running() ?? false,
    lastWords: (name) => stack.process(name)?.tail().slice(-8).join('\n') ?? '(no process: its last start failed)',
    restartTemporal: async () => {
      await temporal.stop();
      temporal = await startTemporalServer(temporalOptions);
    },
    faultCounts: () =>
      countFaults(
        (['payment', 'order', 'notification'] as const).flatMap((s) => (fs.existsSync(logFile(s)) ? fs.readFileSync(logFile(s), 'utf8').split('\n') : [])),
      ),
    stop: async () => {
      await stack.stop();
      await temporal.stop();
    },
  };
}
