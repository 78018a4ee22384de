/**
 * Process lifecycle: readiness, crash (kill -9), stop of a whole process group, and the sweep of
 * leftovers; on tiny fixture programs so it runs without the real services.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnChild } from '../../tools/dev/child';
import { isAlive, PidDir } from '../../tools/dev/leftovers';
import type { ProcessSpec } from '../../tools/dev/processes';
import { freePort, httpOk } from '../../tools/dev/wait';
import { pidDirOf } from '../../tools/dev/sandbox/state';
import { startProcess } from '../../tools/dev/sandbox/stack';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'proc-fixtures-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function fixture(name: string, source: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, source);
  return file;
}

const HEALTHZ_SERVER = `
const http = require('node:http');
setTimeout(() => http.createServer((req, res) => res.end('ok')).listen(Number(process.env.PAYMENT_PORT), '127.0.0.1'), 300);
`;

test('an HTTP process is ready when /healthz answers; kill9 crashes it and its record is dropped', async () => {
  const port = await freePort();
  const spec: ProcessSpec = { name: 'payment', entry: fixture('server.js', HEALTHZ_SERVER), port: 'payment' };
  const child = await startProcess(spec, { ...process.env, PAYMENT_PORT: String(port) });
  await expect(httpOk(`http://127.0.0.1:${port}/healthz`)).resolves.toBe(true);
  const pids = new PidDir(pidDirOf(process.env.DATA_DIR!));
  expect(pids.list().map((r) => r.pid)).toContain(child.pid);

  await expect(child.kill9()).resolves.toEqual({ code: null, signal: 'SIGKILL' });
  await new Promise((r) => setTimeout(r, 50));
  expect(pids.list().map((r) => r.pid)).not.toContain(child.pid);
  await expect(httpOk(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
});

test('the worker is ready when it prints "worker ready"', async () => {
  const spec: ProcessSpec = { name: 'worker', entry: fixture('worker.js', `setTimeout(() => console.log('worker ready on queue x'), 200); setInterval(() => {}, 1000);`) };
  const child = await startProcess(spec, process.env);
  expect(child.running()).toBe(true);
  await expect(child.stop()).resolves.toEqual({ code: null, signal: 'SIGTERM' });
});

test('a process that dies before ready fails the start with its last output', async () => {
  const spec: ProcessSpec = { name: 'order', entry: fixture('crash.js', `console.error('boom: no database'); process.exit(3);`), port: 'order' };
  await expect(startProcess(spec, { ...process.env, ORDER_PORT: String(await freePort()) })).rejects.toThrow(/order exited \(code 3\)[\s\S]*boom: no database/);
});

/** Pids of a shell and its background child, which it prints. */
async function shellWithChild() {
  const child = spawnChild('sh', 'sh', ['-c', 'sleep 300 & echo "bg $!"; wait']);
  const bg = Number((await child.waitForLine(/^bg \d+/)).split(' ')[1]);
  return { child, bg };
}

test('stop() ends the whole process group, not only its leader', async () => {
  const { child, bg } = await shellWithChild();
  expect(isAlive(bg)).toBe(true);
  await child.stop();
  await new Promise((r) => setTimeout(r, 50));
  expect(isAlive(child.pid)).toBe(false);
  expect(isAlive(bg)).toBe(false);
});

test('a sweep kills recorded processes still running their command, and only those', async () => {
  const { child, bg } = await shellWithChild();
  const pids = new PidDir(path.join(dir, 'pids'));
  pids.add({ pid: child.pid, marker: 'sleep 300' });
  pids.add({ pid: process.pid, marker: 'not-this-command' }); // a recycled pid: must survive
  await expect(pids.sweep()).resolves.toEqual([child.pid]);
  await child.exited;
  await new Promise((r) => setTimeout(r, 50));
  expect(isAlive(bg)).toBe(false);
  expect(pids.list()).toEqual([]);
});
