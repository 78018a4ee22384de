/**
 * `npm run bench:peer`: the peer row of the idempotency question — the seed's design (a Redis lock
 * plus double-check, `@node-idempotency/core` with its Redis adapter, tools/bench/peer/redis-lock.ts)
 * against this project's plugin (src/platform/idempotency/plugin.ts), the same one-INSERT handler
 * behind each, in one server process (tools/bench/plugin-server.ts) on embedded Postgres and a real
 * `redis-server` (its default settings, on a free port).
 *
 *  1. Speed: new requests and replays at 10 and 50 clients, `--rounds` alternating rounds.
 *  2. Correctness, the cases the seed's design fails:
 *     - mismatch poisoning: a different body under a used key must be refused without touching the
 *       original's record — a retry of the original then still replays it;
 *     - reordered JSON keys: the same request with its keys in another order is the same request;
 *     - crashed holder: the server dies (SIGKILL) while a request holds its key; after a restart
 *       the client's retry must run it once (not be refused for the record's lifetime, and not
 *       have it run twice).
 *
 *   npm run bench:peer -- [--rounds 3] [--concurrency 10,50] [--per-client 40]
 *
 * Skipped, with a message and exit 0, when no `redis-server` is installed (`apt-get install -y
 * redis-server`) or the peer's npm packages cannot be installed; `npm test` never runs it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'pg';
import { handleShutdown } from '../../src/platform/bootstrap';
import { withDatabase } from '../../src/platform/config';
import { ensureDatabase } from '../../src/platform/db/pool';
import { spawnChild, type ChildHandle } from '../dev/child';
import { startEmbeddedPostgres, type PostgresHandle } from '../dev/postgres';
import { ROOT } from '../dev/processes';
import { freePorts } from '../dev/wait';
import { appendResults, commandLine, drive, fixed, intList, load1, machine, markdownTable, option, positiveInt, ratio, sleep, stats } from './support/measure';
import { PEER_PACKAGES } from './peer/redis-lock';
import { runTool } from '../support/run-tool';

const ROUNDS = option('rounds', 3, positiveInt);
const CONCURRENCY = option('concurrency', [10, 50], intList);
const PER_CLIENT = option('per-client', 40, positiveInt);
/** Where the peer's packages are installed: outside the project, they are not its dependencies. */
const MODULES_DIR = path.join(os.homedir(), '.cache', 'checkout-saga', 'bench-peer');
/** The plugin's lease in the server of the correctness cases: a crashed holder's key is taken over after it. */
const CASE_LEASE_MS = 2_000;

function skip(why: string): never {
  console.log(`bench:peer skipped: ${why}`);
  process.exit(0);
}

function which(bin: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function ensurePeerPackages(): void {
  if (fs.existsSync(path.join(MODULES_DIR, 'node_modules', '@node-idempotency', 'storage-adapter-redis', 'package.json'))) return;
  fs.mkdirSync(MODULES_DIR, { recursive: true });
  const manifest = path.join(MODULES_DIR, 'package.json');
  if (!fs.existsSync(manifest)) fs.writeFileSync(manifest, '{ "name": "bench-peer", "private": true }\n');
  process.stderr.write(`installing ${PEER_PACKAGES.join(' ')} into ${MODULES_DIR}…\n`);
  try {
    execFileSync('npm', ['install', '--no-audit', '--no-fund', ...PEER_PACKAGES], { cwd: MODULES_DIR, stdio: 'inherit', timeout: 300_000 });
  } catch (err) {
    skip(`could not install ${PEER_PACKAGES.join(' ')} (${(err as Error).message})`);
  }
}

interface Server {
  child: ChildHandle;
  plugin: string;
  peer: string;
}

type Target = 'plugin' | 'peer';

async function request(base: string, key: string, body: string): Promise<{ status: number; replayed: boolean; body: { id?: string; error?: string } }> {
  const res = await fetch(`${base}/widgets`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body });
  const text = await res.text();
  let parsed: { id?: string; error?: string } = {};
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    // not JSON
  }
  return { status: res.status, replayed: res.headers.get('idempotent-replayed') === 'true', body: parsed };
}

async function main(): Promise<void> {
  const redisServer = which('redis-server');
  if (!redisServer) skip('no redis-server installed (apt-get install -y redis-server)');
  ensurePeerPackages();

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-peer-'));
  const [pgPort, redisPort, plainPort, pluginPort, peerPort] = await freePorts(5);
  let postgres: PostgresHandle | undefined;
  let redis: ChildHandle | undefined;
  let server: ChildHandle | undefined;
  let pool: Pool | undefined;
  const stop = async () => {
    await server?.stop(5_000);
    await redis?.stop(5_000);
    await pool?.end();
    await postgres?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  handleShutdown(stop, { repeatedSignal: 'wait' });
  try {
    postgres = await startEmbeddedPostgres({ dataDir, host: '127.0.0.1', port: pgPort!, log: () => undefined });
    await ensureDatabase(postgres.url, 'bench_peer');
    const url = withDatabase(postgres.url, 'bench_peer');
    pool = new Pool({ connectionString: url, max: 1 });
    fs.mkdirSync(path.join(dataDir, 'redis'));
    redis = spawnChild('redis', redisServer!, ['--port', String(redisPort), '--bind', '127.0.0.1', '--dir', path.join(dataDir, 'redis')]);
    await Promise.race([redis.waitForLine(/Ready to accept connections/), redis.exited.then(() => Promise.reject(new Error(`redis-server exited:\n${redis!.tail().join('\n')}`)))]);

    const startServer = async (extra: Record<string, string> = {}): Promise<Server> => {
      const child = spawnChild('plugin-server', process.execPath, ['--import', 'tsx', path.join(__dirname, 'plugin-server.ts')], {
        cwd: ROOT,
        env: {
          ...process.env,
          DATABASE_URL: url,
          PLAIN_PORT: String(plainPort),
          IDEMPOTENT_PORT: String(pluginPort),
          PEER_PORT: String(peerPort),
          PEER_REDIS_URL: `redis://127.0.0.1:${redisPort}`,
          PEER_MODULES_DIR: MODULES_DIR,
          ...extra,
        },
      });
      await Promise.race([child.waitForLine(/^listening/), child.exited.then(() => Promise.reject(new Error(`plugin-server exited:\n${child.tail().join('\n')}`)))]);
      return { child, plugin: `http://127.0.0.1:${pluginPort}`, peer: `http://127.0.0.1:${peerPort}` };
    };

    // ---- 1. speed -------------------------------------------------------------------------
    let s = await startServer();
    server = s.child;
    const loadBefore = load1();
    process.stderr.write(`load average ${loadBefore}\n`);
    const body = (i: number) => JSON.stringify({ name: `w${i}`, note: 'a small body, as a service call carries' });
    const speed: string[][] = [];
    for (const concurrency of CONCURRENCY) {
      const count = concurrency * PER_CLIENT;
      const kinds = ['plugin new', 'peer new', 'plugin replay', 'peer replay'] as const;
      const got = new Map<(typeof kinds)[number], { seconds: number; latencies: number[] }[]>(kinds.map((k) => [k, []]));
      for (let round = 0; round <= ROUNDS; round++) {
        const tag = randomBytes(4).toString('hex');
        const order: Target[] = round % 2 ? ['peer', 'plugin'] : ['plugin', 'peer'];
        const run = async (target: Target, replay: boolean) => {
          const base = target === 'plugin' ? s.plugin : s.peer;
          const r = await drive(count, concurrency, async (i) => {
            const res = await request(base, `${tag}-${i}`, body(i));
            if (res.status !== 201 || res.replayed !== replay) throw new Error(`${target} ${replay ? 'replay' : 'new'}: ${res.status} replayed=${res.replayed}`);
          });
          // Round 0 is the untimed warm-up.
          if (round > 0) got.get(`${target} ${replay ? 'replay' : 'new'}`)!.push(r);
        };
        for (const t of order) await run(t, false);
        for (const t of order) await run(t, true);
      }
      const pooled = (k: (typeof kinds)[number]) => {
        const b = got.get(k)!;
        const lat = stats(b.flatMap((x) => x.latencies));
        return { rate: (count * b.length) / b.reduce((a, x) => a + x.seconds, 0), p50: lat.p50, p95: lat.p95 };
      };
      for (const k of kinds) {
        const p = pooled(k);
        const vs = k.startsWith('peer') ? pooled(k.replace('peer', 'plugin') as (typeof kinds)[number]) : undefined;
        speed.push([String(concurrency), k, fixed(p.rate, 0), vs ? ratio(p.rate, vs.rate) : '', fixed(p.p50, 2), fixed(p.p95, 2)]);
      }
      process.stderr.write(`  ${concurrency} clients done (load ${load1()})\n`);
    }
    await s.child.stop(5_000);

    // ---- 2. correctness ---------------------------------------------------------------------
    s = await startServer({ IDEMPOTENCY_LEASE_MS: String(CASE_LEASE_MS) });
    server = s.child;
    const cases: string[][] = [];
    const rowsUnder = async (target: Target, key: string) =>
      Number((await pool!.query<{ n: string }>('SELECT count(*) AS n FROM bench_widgets WHERE tenant = $1 AND key = $2', [target === 'plugin' ? 'bench' : 'peer', key])).rows[0]!.n);
    const show = (r: { status: number; replayed: boolean; body: { id?: string; error?: string } }) =>
      `${r.status}${r.replayed ? ' replayed' : ''}${r.body.id ? ` id ${r.body.id}` : ''}${r.body.error ? ` ${r.body.error}` : ''}`;

    for (const target of ['plugin', 'peer'] as Target[]) {
      const base = () => (target === 'plugin' ? s.plugin : s.peer);
      const key = (name: string) => `case-${name}-${randomBytes(3).toString('hex')}`;

      // Mismatch poisoning.
      let k = key('mismatch');
      const a = JSON.stringify({ name: 'original' });
      const first = await request(base(), k, a);
      const other = await request(base(), k, JSON.stringify({ name: 'another request' }));
      const retry = await request(base(), k, a);
      const poisonOk = other.status === 422 && retry.status === 201 && retry.replayed && retry.body.id === first.body.id;
      cases.push([
        'mismatch poisoning',
        target,
        `original ${show(first)}; different body ${show(other)}; original's retry ${show(retry)}`,
        poisonOk ? '✅ the retry replays the original' : "❌ the mismatch overwrote the original's record",
      ]);

      // Reordered JSON keys.
      k = key('reordered');
      const inOrder = await request(base(), k, '{"name":"same","note":"request"}');
      const reordered = await request(base(), k, '{"note":"request","name":"same"}');
      const reorderOk = reordered.status === 201 && reordered.replayed && reordered.body.id === inOrder.body.id;
      cases.push([
        'reordered JSON keys',
        target,
        `first ${show(inOrder)}; same keys reordered ${show(reordered)}`,
        reorderOk ? '✅ the same request, replayed' : '❌ refused as a different request',
      ]);

      // Crashed holder: SIGKILL while the handler holds the key, restart, retry until answered (bounded).
      k = key('crash');
      const slow = JSON.stringify({ name: 'crash', delayMs: 3_000 });
      const inFlight = request(base(), k, slow).catch(() => undefined);
      await sleep(700);
      await s.child.kill9();
      await inFlight;
      s = await startServer({ IDEMPOTENCY_LEASE_MS: String(CASE_LEASE_MS) });
      server = s.child;
      const answers: string[] = [];
      let last: Awaited<ReturnType<typeof request>> | undefined;
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline) {
        last = await request(base(), k, slow);
        answers.push(String(last.status));
        if (last.status !== 409) break;
        await sleep(1_000);
      }
      const rows = await rowsUnder(target, k);
      const crashOk = last?.status === 201 && rows === 1;
      cases.push([
        'crashed holder',
        target,
        `retries after the restart answered ${answers.join(', ')}; rows under the key: ${rows}`,
        crashOk
          ? '✅ taken over once the lease expired and the holder was gone; done once'
          : `❌ ${last?.status === 409 ? 'the key stays in progress for the record\'s TTL (24 h by default): every retry 409' : 'not done exactly once'}`,
      ]);
    }

    const text = [
      `Command: \`${commandLine('bench:peer')}\` — one server process (tools/bench/plugin-server.ts) with the same one-INSERT handler behind`,
      "this project's plugin (Postgres: claim, then effect and stored response in one transaction) and behind the seed's design",
      '(tools/bench/peer/redis-lock.ts: `@node-idempotency/core` 1.0.11 + `storage-adapter-redis` 1.0.2, Redis lock + double-check, mounted as its',
      `Fastify plugin mounts it); embedded Postgres with default durability, \`redis-server\` with its defaults; ${ROUNDS} alternating rounds per concurrency.`,
      `Machine: ${machine()}; load average ${loadBefore} before, ${load1()} after.`,
      '',
      markdownTable(['clients', 'request', 'req/s', 'peer ÷ plugin', 'p50 ms', 'p95 ms'], speed),
      '',
      `Correctness (the plugin's lease shortened to ${CASE_LEASE_MS} ms in this server, so the crashed-holder case ends quickly):`,
      '',
      markdownTable(['case', 'design', 'what happened', 'verdict'], cases),
    ].join('\n');
    console.log(`\n${text}\n`);
    appendResults("Idempotency: the plugin against the seed's Redis lock (`tools/bench/peer.ts`)", text);
  } finally {
    await stop();
  }
}

runTool(main);
