/**
 * The full Temporal server, its SQL schema tool and the Web UI server for `npm run start:cluster`,
 * found or built by the one locator of tools/dev/binaries.ts (explicit path, PATH, the per-user
 * cache, else `go install` into that cache), like the Temporal CLI. The server and the UI server
 * both build a binary named `server`: in the cache each has its own name.
 *
 * Server v1.29.1: newer tags need a newer Go than many machines have (≥ 1.26.10), and its go.mod
 * has no replace directive, so `go install …@v1.29.1` accepts it. UI server v2.42.1: the version
 * of the UI image docker-compose.yml runs.
 */
import type { Config } from '../../../src/platform/config';
import { goInstallStep, locateBinary, type BinarySpec } from '../binaries';

export const TEMPORAL_SERVER_VERSION = 'v1.29.1';
export const TEMPORAL_UI_VERSION = 'v2.42.1';

export const TEMPORAL_SERVER: BinarySpec = {
  name: 'temporal-server',
  title: `Temporal server ${TEMPORAL_SERVER_VERSION}`,
  pathVariable: 'TEMPORAL_SERVER_PATH',
  installHint: 'build it: go install go.temporal.io/server/cmd/server@' + TEMPORAL_SERVER_VERSION,
  steps: [goInstallStep('go.temporal.io/server/cmd/server', TEMPORAL_SERVER_VERSION)],
};

export const TEMPORAL_SQL_TOOL: BinarySpec = {
  name: 'temporal-sql-tool',
  title: `Temporal SQL schema tool ${TEMPORAL_SERVER_VERSION}`,
  pathVariable: 'TEMPORAL_SQL_TOOL_PATH',
  installHint: 'build it: go install go.temporal.io/server/cmd/tools/sql@' + TEMPORAL_SERVER_VERSION,
  steps: [goInstallStep('go.temporal.io/server/cmd/tools/sql', TEMPORAL_SERVER_VERSION)],
};

export const TEMPORAL_UI_SERVER: BinarySpec = {
  name: 'temporal-ui-server',
  title: `Temporal Web UI server ${TEMPORAL_UI_VERSION}`,
  pathVariable: 'TEMPORAL_UI_SERVER_PATH',
  installHint: 'build it: go install github.com/temporalio/ui-server/v2/cmd/server@' + TEMPORAL_UI_VERSION,
  steps: [goInstallStep('github.com/temporalio/ui-server/v2/cmd/server', TEMPORAL_UI_VERSION)],
};

export interface ClusterBinaries {
  server: string;
  sqlTool: string;
  uiServer: string;
}

/** Locates (or builds) all three, one after the other: two Go builds at once only compete for the CPU. */
export async function locateClusterBinaries(config: Config, log: (m: string) => void, env: NodeJS.ProcessEnv = process.env): Promise<ClusterBinaries> {
  const paths = config.temporal.clusterBinaries;
  return {
    server: await locateBinary(TEMPORAL_SERVER, { explicitPath: paths.server, env, log }),
    sqlTool: await locateBinary(TEMPORAL_SQL_TOOL, { explicitPath: paths.sqlTool, env, log }),
    uiServer: await locateBinary(TEMPORAL_UI_SERVER, { explicitPath: paths.uiServer, env, log }),
  };
}
