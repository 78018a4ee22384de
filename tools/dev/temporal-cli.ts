/**
 * Finds the Temporal CLI binary (it carries the dev server), in the order of SPEC §2:
 *   1. TEMPORAL_CLI_PATH (config.temporal.cliPath) — an explicit choice; if it is wrong we fail
 *      rather than silently run another binary;
 *   2. `temporal` on PATH;
 *   3. the per-user cache `$XDG_CACHE_HOME/checkout-saga/bin/temporal` (default ~/.cache);
 *   4. build it into that cache with `go install …@v1.5.1` when `go` is on PATH (minutes, once);
 *   5. let @temporalio/testing download it (needs the internet) into the cache.
 * When all fail, one error names every place tried and how to fix each.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** v1.5.1: the newest release whose go.mod has no replace directive, so `go install pkg@version` accepts it. */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';

export interface LocateOptions {
  /** config.temporal.cliPath (TEMPORAL_CLI_PATH). */
  cliPath?: string;
  /** Source of PATH, HOME and XDG_CACHE_HOME; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Allow step 4 (go install); default true. */
  build?: boolean;
  /** Allow step 5 (@temporalio/testing download); default true. */
  download?: boolean;
  log?: (message: string) => void;
}

export class TemporalCliNotFoundError extends Error {
  override name = 'TemporalCliNotFoundError';
}

export function cacheBinDir(env: NodeJS.ProcessEnv = process.env): string {
  const cacheRoot = env.XDG_CACHE_HOME || path.join(env.HOME || os.homedir(), '.cache');
  return path.join(cacheRoot, 'checkout-saga', 'bin');
}

function isExecutableFile(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Like `which`: the first executable `name` in the PATH of `env`. */
export function findOnPath(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/** Runs `go install` into the cache; resolves to the built binary or rejects with the tail of go's output. */
export async function buildWithGo(go: string, binDir: string, env: NodeJS.ProcessEnv, log: (m: string) => void): Promise<string> {
  fs.mkdirSync(binDir, { recursive: true });
  const target = `${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}`;
  log(`building the Temporal CLI: GOBIN=${binDir} go install ${target} (takes minutes the first time; cached afterwards)`);
  const started = Date.now();
  const output: string[] = [];
  const child = spawn(go, ['install', target], { env: { ...env, GOBIN: binDir }, stdio: ['ignore', 'pipe', 'pipe'] });
  const onData = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) {
      output.push(line);
      if (output.length > 20) output.shift();
      log(`go: ${line.replace(/^go: /, '')}`);
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  // go is silent while compiling; a heartbeat shows the build is alive.
  const heartbeat = setInterval(() => log(`still building the Temporal CLI (${Math.round((Date.now() - started) / 1000)} s)…`), 30_000);
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', resolve);
    });
    const built = path.join(binDir, 'temporal');
    if (code !== 0 || !isExecutableFile(built)) {
      throw new Error(`go install exited with code ${code}: ${output.slice(-5).join(' | ')}`);
    }
    log(`built ${built} in ${Math.round((Date.now() - started) / 1000)} s`);
    return built;
  } finally {
    clearInterval(heartbeat);
  }
}

/**
 * Lets the SDK's ephemeral-server support download the CLI into `dir` (it starts a throwaway
 * dev server to do so), then returns the downloaded executable.
 */
export async function downloadWithSdk(dir: string, log: (m: string) => void): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  log(`downloading the Temporal CLI through @temporalio/testing into ${dir}`);
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

export async function locateTemporalCli(opts: LocateOptions = {}): Promise<string> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? ((m: string) => console.error(`[temporal-cli] ${m}`));
  const tried: string[] = [];

  if (opts.cliPath) {
    if (isExecutableFile(opts.cliPath)) return opts.cliPath;
    throw new TemporalCliNotFoundError(
      `TEMPORAL_CLI_PATH=${opts.cliPath} is not an executable file. Fix the path, or unset TEMPORAL_CLI_PATH to search PATH and the cache.`,
    );
  }
  tried.push('TEMPORAL_CLI_PATH: not set — set it to the path of a temporal binary');

  const onPath = findOnPath('temporal', env);
  if (onPath) return onPath;
  tried.push('PATH: no `temporal` — install the Temporal CLI (https://docs.temporal.io/cli) onto PATH');

  const binDir = cacheBinDir(env);
  const cached = path.join(binDir, 'temporal');
  if (isExecutableFile(cached)) return cached;
  tried.push(`cache: no ${cached} — put a temporal binary there`);

  const go = findOnPath('go', env);
  if (opts.build === false) {
    tried.push('go install: disabled');
  } else if (!go) {
    tried.push(`go install: no \`go\` on PATH — install Go (https://go.dev/dl) and it builds ${TEMPORAL_CLI_VERSION} into the cache`);
  } else {
    try {
      return await buildWithGo(go, binDir, env, log);
    } catch (err) {
      tried.push(`go install: failed (${(err as Error).message}) — fix the Go toolchain/network, or see the lines above`);
    }
  }

  if (opts.download === false) {
    tried.push('@temporalio/testing download: disabled');
  } else {
    try {
      return await downloadWithSdk(path.join(path.dirname(binDir), 'download'), log);
    } catch (err) {
      tried.push(`@temporalio/testing download: failed (${(err as Error).message}) — needs internet access to temporal.download`);
    }
  }

  throw new TemporalCliNotFoundError(`Temporal CLI not found. Tried, in order:\n${tried.map((t) => `  - ${t}`).join('\n')}`);
}
