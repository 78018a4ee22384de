/**
 * Real service processes for end-to-end tests, on the harness's Postgres and Temporal.
 *
 * Each stack gets free ports, its own databases and its own task queue, so several stacks (two
 * jest workers, or a test beside `npm start`) never share state or steal each other's tasks.
 * Output of each process goes to `<DATA_DIR>/logs/<stack>-<name>.log`; a process that fails to
 * become ready throws with its last lines.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DATABASES, loadConfig, portEnv, withDatabase, type Config } from '../../../src/platform/config';
import type { ChildHandle } from '../child';
import { PidDir } from '../leftovers';
import { ensureDatabases } from '../postgres';
import { PROCESSES, processSpec, startProcess as spawnReady, type ProcessName, type ProcessSpec } from '../processes';
import { freePorts } from '../wait';
import { pidDirOf } from './state';

/** Variables derived from ports: inherited values would point a stack at another stack's processes. */
const DERIVED = ['API_URL', 'MAILBOX_URL', 'PAYMENT_URL', 'ORDER_URL', 'NOTIFICATION_URL', 'SMTP_URL', 'TEMPORAL_UI_URL'];

function harnessDataDir(): string {
  const dir = process.env.DATA_DIR;
  if (!dir || !process.env.TEMPORAL_ADDRESS) throw new Error('run through jest: tools/dev/sandbox/setup.ts starts Postgres and Temporal');
  return dir;
}

/**
 * Spawns one process and waits until it is ready (GET /healthz, or `worker ready` for the worker).
 * Its pid is recorded so global teardown kills it if the test does not.
 */
export async function startProcess(process_: ProcessName | ProcessSpec, env: NodeJS.ProcessEnv, logName?: string): Promise<ChildHandle> {
  const spec = typeof process_ === 'string' ? processSpec(process_) : process_;
  const dataDir = harnessDataDir();
  const pids = new PidDir(pidDirOf(dataDir));
  fs.mkdirSync(path.join(dataDir, 'logs'), { recursive: true });
  const log = fs.createWriteStream(path.join(dataDir, 'logs', `${logName ?? spec.name}.log`), { flags: 'a' });
  const child = await spawnReady(spec, {
    env,
    detached: false, // a Ctrl-C on jest reaches it too
    onLine: (line) => log.write(`${line}\n`),
    onSpawn: (c) => {
      pids.add({ pid: c.pid, marker: spec.entry });
      void c.exited.then(() => {
        pids.remove(c.pid);
        log.end();
      });
    },
  });
  return child;
}

export interface StackOptions {
  /** Which processes; default all of them. */
  only?: ProcessName[];
  /** Extra env for every process (e.g. IDEMPOTENCY_LEASE_MS). */
  env?: Record<string, string>;
  /** Extra env for one process (e.g. FAULTS for payment). */
  envFor?: Partial<Record<ProcessName, Record<string, string>>>;
  /** Another entry file for one process, relative to the repository root (a test's own build of it). */
  entryFor?: Partial<Record<ProcessName, string>>;
}

export interface Stack {
  id: string;
  /** The env every process got (before envFor): point clients and loadConfig() at the stack with it. */
  env: NodeJS.ProcessEnv;
  config: Config;
  urls: { api: string; mailbox: string; payment: string; order: string; notification: string };
  process(name: ProcessName): ChildHandle | undefined;
  /** SIGKILL, as a crash: no shutdown hook runs. */
  kill9(name: ProcessName): Promise<void>;
  /** Starts the process again (stopping it first if it still runs), optionally with changed env. */
  restart(name: ProcessName, env?: Record<string, string>): Promise<void>;
  stop(): Promise<void>;
}

/** The env of a new stack: fresh ports, its own databases and task queue, on the harness infra. */
export async function stackEnv(id: string, extra: Record<string, string> = {}): Promise<NodeJS.ProcessEnv> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of DERIVED) delete env[k];
  const portNames = ['api', 'payment', 'order', 'notification', 'mailboxHttp', 'mailboxSmtp', 'workerMetrics'] as const;
  const ports = await freePorts(portNames.length, env.HOST ?? '127.0.0.1');
  portNames.forEach((p, i) => (env[portEnv(p)] = String(ports[i])));
  // A DATABASE_URL in `extra` (a Postgres of the caller's own) holds the stack's databases too.
  for (const d of DATABASES) env[`${d.toUpperCase()}_DATABASE_URL`] = withDatabase(extra.DATABASE_URL ?? env.DATABASE_URL!, `s${id}_${d}`);
  env.TEMPORAL_TASK_QUEUE = `checkout-${id}`;
  return { ...env, ...extra };
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  harnessDataDir();
  const id = randomBytes(4).toString('hex');
  const env = await stackEnv(id, opts.env);
  const config = loadConfig(env);
  await ensureDatabases(config.databaseUrls);

  const envOf = new Map<ProcessName, NodeJS.ProcessEnv>();
  const running = new Map<ProcessName, ChildHandle>();
  const start = async (name: ProcessName) => {
    const entry = opts.entryFor?.[name];
    running.set(name, await startProcess(entry ? { ...processSpec(name), entry } : name, envOf.get(name)!, `${id}-${name}`));
  };
  const names = opts.only ?? PROCESSES.map((p) => p.name);
  for (const name of names) envOf.set(name, { ...env, ...opts.envFor?.[name] });

  const stop = async () => {
    await Promise.all([...running.values()].map((c) => c.stop(5_000)));
    running.clear();
  };
  const results = await Promise.allSettled(names.map(start));
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length) {
    await stop();
    throw new Error(failed.map((f) => (f.reason as Error).message).join('\n\n'));
  }

  return {
    id,
    env,
    config,
    urls: {
      api: config.apiUrl,
      mailbox: config.mailboxUrl,
      payment: config.serviceUrls.payment,
      order: config.serviceUrls.order,
      notification: config.serviceUrls.notification,
    },
    process: (name) => running.get(name),
    kill9: async (name) => {
      await running.get(name)?.kill9();
      running.delete(name);
    },
    restart: async (name, extra) => {
      await running.get(name)?.stop(5_000);
      running.delete(name);
      envOf.set(name, { ...(envOf.get(name) ?? env), ...extra });
      await start(name);
    },
    stop,
  };
}
