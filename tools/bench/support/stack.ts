/**
 * The system under measurement, started as `npm start` starts it but on free ports and a throwaway
 * data folder: embedded Postgres (default durability), the Temporal CLI dev server on a SQLite
 * file with the tuned pragmas (headless, with its Prometheus endpoint on a free port), and the
 * application processes of tools/dev/processes.ts, each a `node --import tsx` child whose pid
 * the CPU and memory readings follow. Optionally the baseline's worker (tools/bench/noop-worker.ts)
 * beside them on the same dev server.
 *
 * Each child's output goes to `<logs>/<name>.log`, kept after the run (its path is printed).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, type BundleOptions } from '@temporalio/worker';
import { handleShutdown } from '../../../src/platform/bootstrap';
import { DEFAULT_PORTS, loadConfig, portEnv, type Config } from '../../../src/platform/config';
import { spawnChild, type ChildHandle } from '../../dev/child';
import { startPostgres, clusterProcesses as postgresProcesses, type PostgresHandle } from '../../dev/postgres';
import { processSpec, startProcess, type ProcessName, type ProcessSpec } from '../../dev/processes';
import { locateTemporalCli } from '../../dev/temporal-cli';
import { devServerArgs, waitForTemporal } from '../../dev/temporal-server';
import { freePorts } from '../../dev/wait';
import type { Watched } from './proc';
import { WORKER_OPTIONS_ENV, type WorkerVariant } from './worker-options';

export const BENCH_API_KEY = 'sk_test_bench';
export const BENCH_MERCHANT = 'merchant_bench';
export const NOOP_TASK_QUEUE = 'bench-noop';

export interface BenchStackOptions {
  /** Application processes to start; default all six. */
  processes?: ProcessName[];
  /** Start the Temporal dev server; default true. */
  temporal?: boolean;
  /** Start the baseline's worker (tools/bench/noop-worker.ts); default false. */
  noopWorker?: boolean;
  /**
   * Worker settings on top of the production worker's. Undefined: the checkout worker is
   * src/worker/main.ts itself; set (even `{}`): tools/bench/checkout-worker.ts with the variant.
   */
  workerVariant?: WorkerVariant;
  /** Extra env for every process. */
  env?: Record<string, string>;
  /** Label of the log folder. */
  label: string;
}

export interface BenchStack {
  env: NodeJS.ProcessEnv;
  config: Config;
  /** The bench's own Temporal client (baseline runs, history reads); undefined without Temporal. */
  client: Client | undefined;
  /** The dev server's Prometheus endpoint. */
  metricsUrl: string | undefined;
  logDir: string;
  /** Name → pid of every process whose CPU and memory count (Postgres: its postmaster). */
  watched(): Watched;
  /**
   * Stops both workers and starts them again with `variant` (undefined: src/worker/main.ts);
   * `patchesRetired`: the checkout worker's bundle sees every `patched()` as true
   * (tools/bench/workflows/patches-retired.ts).
   */
  restartWorkers(variant: WorkerVariant | undefined, opts?: { patchesRetired?: boolean }): Promise<void>;
  /** Restarts one application process with `extra` env on top of the stack's. */
  restartProcess(name: ProcessName, extra: Record<string, string>): Promise<void>;
  stop(): Promise<void>;
}

const DERIVED_URLS = /_URL$/;
type Configuration = Parameters<NonNullable<BundleOptions['webpackConfigHook']>>[0];
const SILENT = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

export async function startBenchStack(opts: BenchStackOptions): Promise<BenchStack> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `bench-${opts.label}-`));
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), `bench-${opts.label}-logs-`));
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Any *_URL (DATABASE_URL, SMTP_URL, PAYMENT_URL…) or TEMPORAL_* would aim the processes at
  // another system, and FAULTS would measure injected failures.
  for (const k of Object.keys(env)) {
    if (DERIVED_URLS.test(k) || k.startsWith('FAULTS') || k.startsWith('TEMPORAL_') || k.startsWith('BENCH_') || k === 'WORKFLOW_BUNDLE_PATH') delete env[k];
  }
  // Every configured port free (a bench beside `npm start` or a test run must not collide), plus
  // the dev server's metrics and the baseline worker's.
  const portNames = Object.keys(DEFAULT_PORTS) as (keyof Config['ports'])[];
  const [metricsPort, noopMetricsPort, ...ports] = await freePorts(portNames.length + 2);
  portNames.forEach((p, i) => (env[portEnv(p)] = String(ports[i])));
  Object.assign(env, {
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    API_KEYS: `${BENCH_API_KEY}:${BENCH_MERCHANT}`,
    TEMPORAL_ADDRESS: `127.0.0.1:${env[portEnv('temporal')]}`,
    TEMPORAL_TASK_QUEUE: 'checkout',
    BENCH_NOOP_TASK_QUEUE: NOOP_TASK_QUEUE,
    BENCH_NOOP_METRICS_PORT: String(noopMetricsPort),
    ...opts.env,
  });
  const config = loadConfig(env);

  let postgres: PostgresHandle | undefined;
  let temporal: ChildHandle | undefined;
  let connection: Connection | undefined;
  const children = new Map<string, ChildHandle>();
  let variant = opts.workerVariant;
  let patchesRetired = false;

  const logTo = (name: string) => {
    const stream = fs.createWriteStream(path.join(logDir, `${name}.log`), { flags: 'a' });
    return (line: string) => stream.write(`${line}\n`);
  };
  const workerSpec = (): ProcessSpec =>
    variant === undefined ? processSpec('worker') : { name: 'worker', entry: 'tools/bench/checkout-worker.ts' };
  const variantEnv = () => (variant === undefined ? {} : { [WORKER_OPTIONS_ENV]: JSON.stringify(variant) });
  // Bundled once, so that a worker restarted for another variant does not run webpack again.
  const bundles = { production: '', noop: '', bench: '', patchesRetired: '' };
  const workerEnv = (): NodeJS.ProcessEnv =>
    variant === undefined
      ? { ...env, WORKFLOW_BUNDLE_PATH: bundles.production }
      : { ...env, ...variantEnv(), BENCH_WORKFLOW_BUNDLE: patchesRetired ? bundles.patchesRetired : bundles.bench };
  const noopEnv = (): NodeJS.ProcessEnv => ({ ...env, ...variantEnv(), BENCH_WORKFLOW_BUNDLE: bundles.noop });
  const start = async (spec: ProcessSpec, childEnv: NodeJS.ProcessEnv) => {
    const child = await startProcess(spec, { env: childEnv, onLine: logTo(spec.name), readyTimeoutMs: 180_000 });
    children.set(spec.name, child);
  };
  const startWorkers = async () => {
    const names = opts.processes ?? ['mailbox', 'payment', 'order', 'notification', 'worker', 'api'];
    await Promise.all([
      names.includes('worker') ? start(workerSpec(), workerEnv()) : undefined,
      opts.noopWorker ? start({ name: 'worker-2', entry: 'tools/bench/noop-worker.ts' }, noopEnv()) : undefined,
    ]);
  };
  const stopWorkers = async () => {
    await Promise.all(['worker', 'worker-2'].map(async (n) => {
      await children.get(n)?.stop(15_000);
      children.delete(n);
    }));
  };

  const stop = async () => {
    await Promise.all([...children.values()].map((c) => c.stop(10_000)));
    children.clear();
    await connection?.close().catch(() => undefined);
    await temporal?.stop(10_000);
    await postgres?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  handleShutdown(stop, { repeatedSignal: 'wait' });

  try {
    const temporalWanted = opts.temporal ?? true;
    if (temporalWanted) {
      const bench = path.join(__dirname, '..', 'workflows');
      const sources = {
        production: path.join(__dirname, '..', '..', '..', 'src', 'workflows'),
        noop: path.join(bench, 'noop.ts'),
        bench: path.join(bench, 'checkout-and-saga-shape.ts'),
        patchesRetired: path.join(bench, 'checkout-and-saga-shape.ts'),
      };
      const retire = (config: Configuration): Configuration => ({
        ...config,
        resolve: { ...config.resolve, alias: { ...(config.resolve?.alias as object), '@temporalio/workflow$': path.join(bench, 'patches-retired.ts') } },
      });
      for (const [name, workflowsPath] of Object.entries(sources) as [keyof typeof bundles, string][]) {
        const { code } = await bundleWorkflowCode({ workflowsPath, logger: SILENT, ...(name === 'patchesRetired' ? { webpackConfigHook: retire } : {}) });
        bundles[name] = path.join(dataDir, `${name}-workflows.js`);
        fs.writeFileSync(bundles[name], code);
      }
    }
    const [pg] = await Promise.all([
      startPostgres(config, logTo('postgres')),
      temporalWanted
        ? (async () => {
            const cliPath = await locateTemporalCli({ cliPath: config.temporal.cliPath });
            const args = devServerArgs({
              cliPath,
              host: config.host,
              port: config.ports.temporal,
              namespace: config.temporal.namespace,
              dbFile: path.join(dataDir, 'temporal.sqlite'),
            });
            temporal = spawnChild('temporal', cliPath, [...args, '--metrics-port', String(metricsPort)], { onLine: logTo('temporal'), quietOnStop: true });
            await waitForTemporal({ address: config.temporal.address }, config.temporal.namespace, 60_000);
          })()
        : undefined,
    ]);
    postgres = pg;
    const names = opts.processes ?? ['mailbox', 'payment', 'order', 'notification', 'worker', 'api'];
    // The worker and the API need Temporal, the others only Postgres: all start at once.
    await Promise.all([...names.filter((n) => n !== 'worker').map((n) => start(processSpec(n), env)), startWorkers()]);
    if (temporalWanted) connection = await Connection.connect({ address: config.temporal.address });
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n(logs in ${logDir})`);
  }

  return {
    env,
    config,
    client: connection ? new Client({ connection, namespace: config.temporal.namespace }) : undefined,
    metricsUrl: temporal ? `http://127.0.0.1:${metricsPort}/metrics` : undefined,
    logDir,
    watched() {
      const out: Watched = {};
      if (temporal) out.temporal = temporal.pid;
      for (const [name, child] of children) out[name === 'worker-2' ? 'noop-worker' : name] = child.pid;
      const pid = postgres?.pid ?? postgresProcesses(path.join(dataDir, 'postgres'))[0];
      if (pid) out.postgres = pid;
      return out;
    },
    async restartWorkers(next, restartOpts = {}) {
      await stopWorkers();
      variant = next;
      patchesRetired = restartOpts.patchesRetired ?? false;
      await startWorkers();
    },
    async restartProcess(name, extra) {
      await children.get(name)?.stop(15_000);
      children.delete(name);
      await start(processSpec(name), { ...env, ...extra });
    },
    stop,
  };
}
