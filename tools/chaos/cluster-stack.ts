/**
 * The chaos target on the production topology of `npm run start:cluster`, started on free ports
 * in `DATA_DIR` by the same functions the supervisor uses (tools/dev/cluster/): Temporal's own
 * Postgres, the schemas, the four Temporal services as separate processes (no Web UI), the
 * services' embedded Postgres, then the application processes of clusterProcesses(): the three
 * services with FAULTS, the mailbox, worker-1 and worker-2, api-1 and api-2.
 *
 * Unlike the supervisor (which stops everything when a child dies), every process is held here
 * one by one, so a chaos run can SIGKILL a worker and start it again, and stop one Temporal
 * service (or Temporal's Postgres) and start it again on the same ports and data.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig, localAddress, portEnv, DEFAULT_PORTS, type Config, type ServiceName } from '../../src/platform/config';
import { describeExit, spawnChild, type ChildHandle } from '../dev/child';
import { PidDir } from '../dev/leftovers';
import { ensureDatabases } from '../dev/postgres';
import { clusterProcesses, ROOT, startProcess, type ProcessSpec } from '../dev/processes';
import { clusterOptions, startTemporalPostgres, TEMPORAL_POSTGRES_SCRIPT } from '../dev/cluster/infrastructure';
import {
  frontendPortProblem,
  servicePorts,
  spawnTemporalService,
  startTemporalCluster,
  TEMPORAL_SERVICES,
  type TemporalClusterOptions,
  type TemporalService,
} from '../dev/cluster/temporal-cluster';
import { waitForTemporal } from '../dev/temporal-server';
import { freePorts, portFree, waitUntil } from '../dev/wait';
import { writeWorkflowBundle } from '../dev/workflow-bundle';
import { pidDirOf } from '../dev/sandbox/state';
import { countFaults, type KillEvent } from './plan';
import type { ChaosTarget, InfraTarget, TargetProcess } from './run';
import { CHAOS_ENV } from './stack';

export interface ClusterChaosStackOptions {
  /** FAULTS spec per service (faultSpecs() or hand-written). */
  faults: Partial<Record<ServiceName, string>>;
  seed: number;
  /** Its own folder (databases, Temporal's configuration, logs, pids); default DATA_DIR. Never a folder another system uses. */
  dataDir?: string;
  log?: (line: string) => void;
}

export interface ClusterChaosStack extends ChaosTarget {
  apiUrls: string[];
  processNames: readonly TargetProcess[];
  /** The env every application process got (before its own): ports, databases, Temporal. */
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

/**
 * A frontend port whose fixed offsets (history, matching, worker, membership, HTTP) are free,
 * below the ephemeral range: Temporal keeps membership ports in a smallint (≤ 32767), so the
 * frontend port must leave room for its offsets (frontendPortProblem).
 */
export async function freeFrontendPort(host: string): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 13_000);
    if (frontendPortProblem(port)) continue;
    const all = Object.values(servicePorts(port)).flatMap((p) => [p.grpcPort, p.membershipPort, p.httpPort]).filter((p): p is number => p !== undefined);
    if ((await Promise.all(all.map((p) => portFree(host, p)))).every(Boolean)) return port;
  }
  throw new Error('no Temporal frontend port with free offsets found');
}

const SERVICES: readonly ServiceName[] = ['payment', 'order', 'notification'];

/**
 * What a cluster run SIGKILLs (one at a time; each restarted after a moment): both workers, both
 * API replicas, the services (each hit at least once when the run has as many kills as targets;
 * ensureWorkerKills makes sure of the workers in a smaller run).
 */
export const CLUSTER_KILL_TARGETS: readonly TargetProcess[] = ['worker-1', 'worker-2', 'api-1', 'api-2', 'payment', 'order', 'notification', 'mailbox'];

/** Each worker SIGKILLed at least once: the first kills of other processes become worker kills if needed. */
export function ensureWorkerKills(events: KillEvent[]): KillEvent[] {
  const out = events.map((e) => ({ ...e }));
  for (const worker of ['worker-1', 'worker-2'] as const) {
    if (out.some((e) => e.target === worker)) continue;
    const other = out.find((e) => (CLUSTER_KILL_TARGETS as readonly string[]).includes(e.target) && !e.target.startsWith('worker-'));
    if (other) other.target = worker;
  }
  return out;
}

/** Temporal's parts a cluster run restarts, once each, in this order over the run. */
export function clusterInfraRestarts(downMs: number): { target: InfraTarget; downMs: number }[] {
  return (['temporal-history', 'temporal-matching', 'temporal-frontend', 'temporal-postgres'] as const).map((target) => ({ target, downMs }));
}

export async function startClusterChaosStack(opts: ClusterChaosStackOptions): Promise<ClusterChaosStack> {
  const log = opts.log ?? (() => undefined);
  const dataDir = opts.dataDir ?? process.env.DATA_DIR;
  if (!dataDir) throw new Error('DATA_DIR must be set, or dataDir given (a fresh folder: tools/chaos/main.ts makes one)');
  const host = process.env.HOST ?? '127.0.0.1';
  const pids = new PidDir(pidDirOf(dataDir));
  const logsDir = path.join(dataDir, 'logs');
  fs.mkdirSync(logsDir, { recursive: true });

  // The supervisor's env, as test/infra/cluster-support.ts makes it: every port free, the
  // embedded Postgres (no DATABASE_URL) and the embedded cluster (no TEMPORAL_ADDRESS).
  const env: NodeJS.ProcessEnv = { ...process.env, ...CHAOS_ENV, DATA_DIR: dataDir, HOST: host };
  for (const k of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'WORKFLOW_BUNDLE_PATH', 'TEMPORAL_TASK_QUEUE', 'TEMPORAL_NAMESPACE', 'API_URL', 'MAILBOX_URL', 'PAYMENT_URL', 'ORDER_URL', 'NOTIFICATION_URL', 'SMTP_URL', 'TEMPORAL_UI_URL']) {
    delete env[k];
  }
  for (const k of Object.keys(env)) if (k.endsWith('_DATABASE_URL')) delete env[k];
  const names = (Object.keys(DEFAULT_PORTS) as (keyof Config['ports'])[]).filter((n) => n !== 'temporal');
  (await freePorts(names.length, host)).forEach((port, i) => (env[portEnv(names[i]!)] = String(port)));
  env[portEnv('temporal')] = String(await freeFrontendPort(host));
  const config = loadConfig(env);
  if (!config.temporal.embedded || !config.embeddedPostgres) throw new Error('the cluster chaos stack runs its own Postgres and Temporal cluster');

  const logStreams = new Map<string, fs.WriteStream>();
  const logTo = (name: string) => {
    let s = logStreams.get(name);
    if (!s) logStreams.set(name, (s = fs.createWriteStream(path.join(logsDir, `${name}.log`), { flags: 'a' })));
    return (line: string) => s!.write(`${line}\n`);
  };
  const track = (child: ChildHandle, marker: string) => {
    pids.add({ pid: child.pid, marker });
    void child.exited.then(() => pids.remove(child.pid));
  };

  // Everything started so far, for stop() (and for a failed start).
  const infra = new Map<string, ChildHandle>();
  const apps = new Map<TargetProcess, ChildHandle>();
  let servicesPostgres: ChildHandle | undefined;
  const stopAll = async () => {
    await Promise.all([...apps.values()].map((c) => c.stop(5_000)));
    apps.clear();
    await Promise.all([...infra.entries()].filter(([n]) => n !== 'temporal-postgres').map(([, c]) => c.stop(10_000)));
    await infra.get('temporal-postgres')?.stop(20_000);
    infra.clear();
    await servicesPostgres?.stop(20_000);
    for (const s of logStreams.values()) s.end();
  };

  let clusterOpts: TemporalClusterOptions;
  try {
    // Temporal's Postgres and the cluster; the services' Postgres and the workflow bundle meanwhile.
    const startTemporalSide = async () => {
      const started = Date.now();
      infra.set('temporal-postgres', await startTemporalPostgres(env, logTo('temporal-postgres'), (c) => track(c, TEMPORAL_POSTGRES_SCRIPT)));
      clusterOpts = await clusterOptions(config, env, {
        onLine: (name, line) => logTo(name)(line),
        onSpawn: (c) => track(c, path.join(config.dataDir, 'temporal-cluster')),
        log,
        detached: true,
      });
      delete clusterOpts.uiPort; // no Web UI: nobody looks at it during a chaos run
      const cluster = await startTemporalCluster(clusterOpts);
      for (const [name, child] of cluster.children) infra.set(name, child);
      log(`chaos: Temporal cluster (Postgres, ${TEMPORAL_SERVICES.join(', ')}) ready in ${((Date.now() - started) / 1000).toFixed(1)} s at ${cluster.address}`);
    };
    const startServicesPostgres = async () => {
      const script = path.join(ROOT, 'tools', 'dev', 'postgres-main.ts');
      const child = spawnChild('postgres', process.execPath, ['--import', 'tsx', script], { env, cwd: ROOT, onLine: logTo('postgres') });
      track(child, script);
      servicesPostgres = child;
      await Promise.race([
        child.waitForLine(/^Postgres ready/),
        child.exited.then((e) => {
          throw new Error(`the services' Postgres exited (${describeExit(e)}) before it was ready:\n${child.tail().slice(-10).join('\n')}`);
        }),
      ]);
      await ensureDatabases(config.databaseUrls);
    };
    const results = await Promise.allSettled([startTemporalSide(), startServicesPostgres(), writeWorkflowBundle(path.join(dataDir, 'workflow-bundle.js'))]);
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length) throw new Error(failed.map((f) => (f.reason as Error).message).join('\n\n'));
    env.WORKFLOW_BUNDLE_PATH = path.join(dataDir, 'workflow-bundle.js');
  } catch (err) {
    await stopAll();
    throw err;
  }

  // The application processes, each with its own env (a replica's ports; a service's FAULTS).
  const specs = new Map<TargetProcess, ProcessSpec>(clusterProcesses(config).map((s) => [s.name, s]));
  const envOf = new Map<TargetProcess, NodeJS.ProcessEnv>();
  for (const [name, spec] of specs) {
    const service = SERVICES.find((s) => s === name);
    envOf.set(name, { ...env, ...spec.env, ...(service && { FAULTS: opts.faults[service] ?? '', FAULTS_SEED: String(opts.seed) }) });
  }
  const start = async (name: TargetProcess) => {
    const spec = specs.get(name);
    if (!spec) throw new Error(`no process ${name} on the cluster`);
    const child = await startProcess(spec, { env: envOf.get(name)!, detached: true, onLine: logTo(name), onSpawn: (c) => track(c, spec.entry) });
    apps.set(name, child);
  };
  const results = await Promise.allSettled([...specs.keys()].map(start));
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length) {
    await stopAll();
    throw new Error(failed.map((f) => (f.reason as Error).message).join('\n\n'));
  }

  /** One Temporal service, spawned again on its ports; back once its gRPC port accepts connections and the frontend serves the namespace. */
  const restartService = async (service: TemporalService, downMs: number) => {
    const name = `temporal-${service}`;
    await infra.get(name)?.stop(10_000);
    await new Promise((r) => setTimeout(r, downMs));
    const child = spawnTemporalService(clusterOpts, service);
    infra.set(name, child);
    const died = child.exited.then((e): never => {
      throw new Error(`${name} exited (${describeExit(e)}) after its restart:\n${child.tail().slice(-8).join('\n')}`);
    });
    const port = servicePorts(config.ports.temporal)[service].grpcPort;
    await waitUntil(async () => !(await portFree(config.binds.temporal, port)), { what: `${name} on port ${port}`, timeoutMs: 60_000, intervalMs: 100, abort: died });
    await waitForTemporal(config.temporal.connection, config.temporal.namespace, 60_000, { abort: died });
  };
  const restartTemporalPostgres = async (downMs: number) => {
    await infra.get('temporal-postgres')?.stop(20_000);
    await new Promise((r) => setTimeout(r, downMs));
    infra.set('temporal-postgres', await startTemporalPostgres(env, logTo('temporal-postgres'), (c) => track(c, TEMPORAL_POSTGRES_SCRIPT)));
    await waitForTemporal(config.temporal.connection, config.temporal.namespace, 60_000, {});
  };

  const apiUrls = [config.apiUrl, `http://${localAddress(config, 'apiReplica')}`];
  const processNames = [...specs.keys()];
  const logFile = (name: string) => path.join(logsDir, `${name}.log`);
  return {
    env,
    config,
    apiUrl: apiUrls[0]!,
    apiUrls,
    apiKey: [...config.apiKeys.keys()][0]!,
    processNames,
    kill9: async (name) => {
      await apps.get(name)?.kill9();
      apps.delete(name);
    },
    restart: async (name, extra) => {
      await apps.get(name)?.stop(5_000);
      apps.delete(name);
      envOf.set(name, { ...envOf.get(name)!, ...extra });
      await start(name);
    },
    running: (name) => apps.get(name)?.running() ?? false,
    lastWords: (name) => apps.get(name)?.tail().slice(-8).join('\n') ?? '(no process: its last start failed)',
    restartTemporal: async () => {
      for (const s of ['history', 'matching', 'frontend', 'worker'] as const) await restartService(s, 0);
    },
    restartInfra: async (what: InfraTarget, downMs: number) => {
      if (what === 'temporal-postgres') return restartTemporalPostgres(downMs);
      return restartService(what.slice('temporal-'.length) as TemporalService, downMs);
    },
    healthUrls: Object.fromEntries(
      [...specs.values()].filter((s) => s.port).map((s) => [s.name, `http://${localAddress(loadConfig(envOf.get(s.name)!), s.port!)}/healthz`]),
    ),
    faultCounts: () => countFaults(SERVICES.flatMap((s) => (fs.existsSync(logFile(s)) ? fs.readFileSync(logFile(s), 'utf8').split('\n') : []))),
    stop: stopAll,
  };
}
