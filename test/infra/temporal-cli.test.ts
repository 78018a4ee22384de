/** The Temporal CLI locator's order (SPEC §2), on temp folders with fake binaries: no network, no real build. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cacheBinDir, locateTemporalCli, TEMPORAL_CLI_MODULE, TEMPORAL_CLI_VERSION, TemporalCliNotFoundError } from '../../tools/dev/temporal-cli';

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-locator-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

function executable(file: string, body = 'echo fake'): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}

/** An env whose PATH holds only `dirs` (so the machine's real temporal/go are invisible). */
function envWith(dirs: string[]): NodeJS.ProcessEnv {
  return { PATH: dirs.join(path.delimiter), HOME: path.join(root, 'home') };
}

const quiet = { log: () => undefined, download: false } as const;

test('TEMPORAL_CLI_PATH wins over PATH and the cache', async () => {
  const explicit = executable(path.join(root, 'explicit', 'temporal'));
  executable(path.join(root, 'bin', 'temporal'));
  const env = envWith([path.join(root, 'bin')]);
  executable(path.join(cacheBinDir(env), 'temporal'));
  await expect(locateTemporalCli({ ...quiet, cliPath: explicit, env })).resolves.toBe(explicit);
});

test('a wrong TEMPORAL_CLI_PATH is an error, not a silent fallback', async () => {
  executable(path.join(root, 'bin', 'temporal'));
  const env = envWith([path.join(root, 'bin')]);
  await expect(locateTemporalCli({ ...quiet, cliPath: path.join(root, 'missing'), env })).rejects.toThrow(/TEMPORAL_CLI_PATH=.*missing/);
});

test('PATH wins over the cache', async () => {
  const onPath = executable(path.join(root, 'bin', 'temporal'));
  const env = envWith([path.join(root, 'empty'), path.join(root, 'bin')]);
  executable(path.join(cacheBinDir(env), 'temporal'));
  await expect(locateTemporalCli({ ...quiet, env })).resolves.toBe(onPath);
});

test('the cache is ~/.cache/checkout-saga/bin, or under XDG_CACHE_HOME when set', async () => {
  const env = envWith([]);
  expect(cacheBinDir(env)).toBe(path.join(root, 'home', '.cache', 'checkout-saga', 'bin'));
  const xdg = { ...env, XDG_CACHE_HOME: path.join(root, 'xdg') };
  const cached = executable(path.join(root, 'xdg', 'checkout-saga', 'bin', 'temporal'));
  await expect(locateTemporalCli({ ...quiet, env: xdg })).resolves.toBe(cached);
});

test('with nothing found and go on PATH, it builds the pinned version into the cache', async () => {
  const goBin = path.join(root, 'go');
  // A fake go that records its arguments and "builds" by writing $GOBIN/temporal.
  executable(path.join(goBin, 'go'), 'echo "$@" > "$GOBIN/go-args"; printf "#!/bin/sh\\n" > "$GOBIN/temporal"; /bin/chmod +x "$GOBIN/temporal"');
  const env = envWith([goBin]);
  const built = await locateTemporalCli({ ...quiet, env });
  expect(built).toBe(path.join(cacheBinDir(env), 'temporal'));
  expect(fs.readFileSync(path.join(cacheBinDir(env), 'go-args'), 'utf8').trim()).toBe(`install ${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}`);
});

test('a failing build is reported with every other place tried', async () => {
  executable(path.join(root, 'go', 'go'), 'echo "go: module lookup disabled" >&2; exit 1');
  const err = await locateTemporalCli({ ...quiet, env: envWith([path.join(root, 'go')]) }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(TemporalCliNotFoundError);
  expect((err as Error).message).toMatch(/go install: failed .*module lookup disabled/);
});

test('when every step fails, one error names each place and its fix', async () => {
  const err = await locateTemporalCli({ ...quiet, env: envWith([path.join(root, 'empty')]) }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(TemporalCliNotFoundError);
  const lines = (err as Error).message.split('\n').slice(1);
  expect(lines).toEqual([
    expect.stringMatching(/TEMPORAL_CLI_PATH: not set — set it/),
    expect.stringMatching(/PATH: no `temporal` — install/),
    expect.stringContaining(`cache: no ${path.join(root, 'home', '.cache', 'checkout-saga', 'bin', 'temporal')}`),
    expect.stringMatching(/go install: no `go` on PATH — install Go/),
    expect.stringMatching(/@temporalio\/testing download: disabled/),
  ]);
});
