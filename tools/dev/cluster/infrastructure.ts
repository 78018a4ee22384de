/**
 * The Temporal side of `npm run start:cluster`: Temporal's own Postgres (a child running
 * tools/dev/cluster/temporal-postgres-main.ts), then the cluster of tools/dev/cluster/temporal-cluster.ts.
 * Every process is handed to `track` as soon as it is spawned, so the supervisor stops it (and
 * sweeps it after a killed run) like any other child.
 */
import path from 'node:path';
import { localAddress, type Config } from '../../../src/platform/config';
import { describeExit, spawnChild, type ChildHandle } from '../child';
import { POSTGRES_PASSWORD, POSTGRES_USER } from '../postgres';
import { ROOT } from '../processes';
import { locateClusterBinaries } from './binaries';
import { startTemporalCluster, type ClusterTls, type TemporalClusterOptions } from './temporal-cluster';

export const TEMPORAL_POSTGRES_SCRIPT = path.join(ROOT, 'tools', 'dev', 'cluster', 'temporal-postgres-main.ts');

export function temporalPostgresUrl(config: Config): string {
  return `postgres://${POSTGRES_USER}:${POSTGRES_PASSWORD}@${localAddress(config, 'temporalPostgres')}/postgres`;
}

/** Spawns Temporal's Postgres and resolves once it accepts connections. */
export async function startTemporalPostgres(env: NodeJS.ProcessEnv, onLine: (line: string) => void, onSpawn: (child: ChildHandle) => void): Promise<ChildHandle> {
  const child = spawnChild('temporal-postgres', process.execPath, ['--import', 'tsx', TEMPORAL_POSTGRES_SCRIPT], { env, cwd: ROOT, onLine });
  onSpawn(child);
  await Promise.race([
    child.waitForLine(/^Postgres ready/),
    child.exited.then((e) => {
      throw new Error(`Temporal's Postgres exited (${describeExit(e)}) before it was ready:\n${child.tail().slice(-10).join('\n')}`);
    }),
  ]);
  return child;
}

/** The frontend's TLS as configured, with the CA and name the project's own clients verify it by. */
function clusterTls(config: Config, env: NodeJS.ProcessEnv): ClusterTls | undefined {
  const tls = config.temporal.clusterTls;
  if (!tls) return undefined;
  const caFile = env.TEMPORAL_TLS_SERVER_CA_CERT_PATH;
  const serverName = env.TEMPORAL_TLS_SERVER_NAME;
  if (!caFile || !serverName) {
    throw new Error('TEMPORAL_CLUSTER_TLS_CERT_PATH is set: set TEMPORAL_TLS_SERVER_CA_CERT_PATH and TEMPORAL_TLS_SERVER_NAME too (the cluster\'s own services and every client verify the frontend with them)');
  }
  return { ...tls, caFile, serverName };
}

/** The options of the cluster `npm run start:cluster` runs, from the configuration. */
export async function clusterOptions(
  config: Config,
  env: NodeJS.ProcessEnv,
  hooks: Pick<TemporalClusterOptions, 'onLine' | 'onSpawn' | 'log' | 'detached'>,
): Promise<TemporalClusterOptions> {
  return {
    binaries: await locateClusterBinaries(config, hooks.log ?? (() => undefined), env),
    dir: path.join(config.dataDir, 'temporal-cluster'),
    host: config.binds.temporal,
    frontendPort: config.ports.temporal,
    uiPort: config.ports.temporalUi,
    uiHost: config.binds.temporalUi,
    postgresUrl: temporalPostgresUrl(config),
    namespace: config.temporal.namespace,
    connection: config.temporal.connection,
    tls: clusterTls(config, env),
    ...hooks,
  };
}

/** Temporal's Postgres, then the cluster; returns the Web UI URL. */
export async function startClusterInfrastructure(
  config: Config,
  env: NodeJS.ProcessEnv,
  hooks: { line: (name: string) => (line: string) => void; track: (child: ChildHandle, marker: string) => void; log: (m: string) => void },
): Promise<string> {
  const opts = await clusterOptions(config, env, {
    onLine: (name, line) => hooks.line(name)(line),
    onSpawn: (child) => hooks.track(child, path.join(config.dataDir, 'temporal-cluster')),
    log: hooks.log,
  });
  await startTemporalPostgres(env, hooks.line('temporal-postgres'), (child) => hooks.track(child, TEMPORAL_POSTGRES_SCRIPT));
  const cluster = await startTemporalCluster(opts);
  return cluster.uiUrl!;
}
