/**
 * Every ```sh block of README.md is run, in order, as a person would paste it: a new command a
 * helper adds to the README is run here without touching this file.
 *
 * How a block runs:
 *   - `npm install` / `npm ci`: `npm install --dry-run` (resolves the lockfile against the
 *     registry without touching node_modules, which other checkouts may share); CI's `npm ci` on a
 *     fresh clone is the real install.
 *   - `npm test`: this test is part of it, so it cannot run it; it checks that .ci/run runs it.
 *   - `npm start`: started for real on free ports with a fresh DATA_DIR (its own Postgres and
 *     Temporal), until its ready banner; Ctrl-C (SIGINT to its process group) at the end must stop
 *     it cleanly. The blocks after it run against it.
 *   - anything else: `bash -euo pipefail` with the block as the script, in the repository root,
 *     with the same environment. It must exit 0, and every HTTP status line it prints must be
 *     below 400.
 * Placeholders: write the default addresses (`127.0.0.1:3000`, `localhost:8233`…, any port of
 * DEFAULT_PORTS in src/platform/config.ts, on 127.0.0.1 or localhost); each is replaced by the
 * port the test gave that process.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_PORTS, portEnv } from '../../src/platform/config';
import { spawnChild, type ChildHandle } from '../../tools/dev/child';
import { isAlive } from '../../tools/dev/leftovers';
import { ROOT } from '../../tools/dev/processes';
import { freePorts } from '../../tools/dev/wait';

jest.setTimeout(300_000);

/** The ```sh blocks of a markdown text, each with its line number. */
export function shellBlocks(markdown: string): { line: number; script: string }[] {
  const blocks: { line: number; script: string }[] = [];
  const fence = /^```sh\n([\s\S]*?)^```/gm;
  for (let m = fence.exec(markdown); m; m = fence.exec(markdown)) {
    blocks.push({ line: markdown.slice(0, m.index).split('\n').length, script: m[1]!.trimEnd() });
  }
  return blocks;
}

type PortName = keyof typeof DEFAULT_PORTS;
const names = Object.keys(DEFAULT_PORTS) as PortName[];

/** Replaces each default address by the test's port for the same process. */
function withTestPorts(script: string, ports: Record<PortName, number>): string {
  return names.reduce(
    (text, name) => text.replace(new RegExp(`\\b(127\\.0\\.0\\.1|localhost):${DEFAULT_PORTS[name]}\\b`, 'g'), `$1:${ports[name]}`),
    script,
  );
}

/** `a && b` lines split into commands, comments and blank lines dropped. */
function commands(script: string): string[] {
  return script
    .replace(/\\\n/g, ' ')
    .split('\n')
    .flatMap((line) => line.split(/\s&&\s/))
    .map((c) => c.trim())
    .filter((c) => c && !c.startsWith('#'));
}

const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
let dataDir: string;
let supervisor: ChildHandle | undefined;

afterAll(async () => {
  if (supervisor?.running()) {
    process.kill(-supervisor.pid, 'SIGINT');
    await supervisor.exited;
  }
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

test('the README has shell blocks and the quickstart request in one of them', () => {
  const scripts = shellBlocks(readme).map((b) => b.script);
  expect(scripts.length).toBeGreaterThan(0);
  expect(scripts.some((s) => /curl .*\/checkouts/.test(s))).toBe(true);
  expect(readme).not.toMatch(/uuidgen/);
});

test('every ```sh block of the README runs', async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'readme-test-'));
  fs.chmodSync(dataDir, 0o755); // as root, Postgres runs as `postgres` and must reach its folder
  const ports = Object.fromEntries((await freePorts(names.length)).map((p, i) => [names[i], p])) as Record<PortName, number>;
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, NODE_ENV: 'development' };
  // The harness's infrastructure is not the README's: `npm start` starts its own.
  for (const k of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'TEMPORAL_TASK_QUEUE', 'WORKFLOW_BUNDLE_PATH', 'SERVICE_TOKEN', 'HOST']) delete env[k];
  for (const name of names) env[portEnv(name)] = String(ports[name]);

  const ran: string[] = [];
  for (const block of shellBlocks(readme)) {
    const where = `README.md:${block.line}`;
    const steps = commands(block.script);
    if (steps.every((c) => /^npm (install|ci|test|start)$/.test(c))) {
      for (const step of steps) {
        if (step === 'npm install' || step === 'npm ci') {
          const dry = spawnSync('npm', ['install', '--dry-run', '--no-audit', '--no-fund'], { cwd: ROOT, env, encoding: 'utf8' });
          expect({ where, step, status: dry.status, stderr: dry.stderr.slice(-2000) }).toMatchObject({ status: 0 });
        } else if (step === 'npm test') {
          expect({ where, ci: fs.readFileSync(path.join(ROOT, '.ci', 'run'), 'utf8') }).toMatchObject({ ci: expect.stringMatching(/^npm test\b/m) });
        } else {
          supervisor = spawnChild('npm start', 'npm', ['start'], { env, cwd: ROOT, detached: true });
          await Promise.race([
            supervisor.waitForLine(/checkout-saga is ready/),
            supervisor.exited.then(() => Promise.reject(new Error(`${where}: npm start exited:\n${supervisor!.tail().join('\n')}`))),
          ]);
        }
        ran.push(step);
      }
      continue;
    }
    const run = spawnSync('bash', ['-euo', 'pipefail', '-c', withTestPorts(block.script, ports)], { cwd: ROOT, env, encoding: 'utf8', timeout: 120_000 });
    const output = `${run.stdout}${run.stderr}`;
    expect({ where, script: block.script, status: run.status, output: output.slice(-3000) }).toMatchObject({ status: 0 });
    const statuses = [...output.matchAll(/^HTTP\/[\d.]+ (\d{3})/gm)].map((m) => Number(m[1]));
    expect({ where, output: output.slice(-3000), failed: statuses.filter((s) => s >= 400) }).toMatchObject({ failed: [] });
    ran.push(...commands(block.script));
  }
  expect(ran).toEqual(expect.arrayContaining(['npm install', 'npm start', 'npm test']));

  if (supervisor) {
    const state = JSON.parse(fs.readFileSync(path.join(dataDir, 'state.json'), 'utf8')) as { processes: Record<string, number> };
    process.kill(-supervisor.pid, 'SIGINT'); // Ctrl-C in the terminal: npm passes it on, then re-raises it on itself
    await supervisor.exited;
    expect(supervisor.tail()).toContainEqual(expect.stringMatching(/^start +\| stopped$/));
    expect(Object.values(state.processes).filter(isAlive)).toEqual([]);
  }
});
