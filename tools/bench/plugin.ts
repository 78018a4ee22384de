/**
 * `npm run bench:plugin`: what the idempotency plugin costs (issue goals c and d), in one server
 * process (tools/bench/plugin-server.ts) on embedded Postgres with its default (durable) settings:
 *  (c) a new request through the plugin against the same handler mounted without it;
 *  (d) a replay (the same request again, answered from the stored response) against a bare
 *      primary-key GET of the same service.
 * Per concurrency (default 10 and 50 clients), `--rounds` rounds; in each, one batch per kind,
 * the order alternating between rounds. Each batch is concurrency × `--per-client` requests; the
 * replays and GETs of a round are of the rows its plugin batch created.
 *
 *   npm run bench:plugin -- [--rounds 5] [--concurrency 10,50] [--per-client 40] [--no-fsync]
 *
 * Prints a table and appends it to RESULTS.md.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { handleShutdown } from '../../src/platform/bootstrap';
import { withDatabase } from '../../src/platform/config';
import { ensureDatabase } from '../../src/platform/db/pool';
import { spawnChild, type ChildHandle } from '../dev/child';
import { startEmbeddedPostgres, type PostgresHandle } from '../dev/postgres';
import { ROOT } from '../dev/processes';
import { freePorts } from '../dev/wait';
import {
  appendResults,
  commandLine,
  drive,
  fixed,
  intList,
  load1,
  machine,
  markdownTable,
  option,
  positiveInt,
  ratio,
  stats,
} from './support/measure';
import { cpuSeconds, delta } from './support/proc';
import { runTool } from '../support/run-tool';

const ROUNDS = option('rounds', 5, positiveInt);
const CONCURRENCY = option('concurrency', [10, 50], intList);
const PER_CLIENT = option('per-client', 40, positiveInt);
/**
 * `--no-fsync`: a what-if, not the record — Postgres with fsync and synchronous_commit off
 * (tools/dev/postgres.ts `fast`), to show how much of a ratio is the commit's flush to disk.
 */
const NO_FSYNC = process.argv.includes('--no-fsync');

type Kind = 'plain' | 'plugin' | 'replay' | 'get';
const KINDS: Kind[] = ['plain', 'plugin', 'replay', 'get'];
const LABEL: Record<Kind, string> = {
  plain: 'new, handler alone',
  plugin: 'new, through the plugin',
  replay: 'replay (plugin)',
  get: 'GET by primary key',
};

interface Sample {
  seconds: number;
  count: number;
  latencies: number[];
  cpu: Record<string, number>;
}

interface Urls {
  plain: string;
  idempotent: string;
}

async function request(url: string, init: RequestInit, expect: number, replayed?: boolean): Promise<{ id?: string }> {
  const res = await fetch(url, init);
  const body = (await res.json()) as { id?: string };
  if (res.status !== expect || (replayed !== undefined && (res.headers.get('idempotent-replayed') === 'true') !== replayed)) {
    throw new Error(`${init.method ?? 'GET'} ${url}: ${res.status} replayed=${res.headers.get('idempotent-replayed')}, expected ${expect} replayed=${replayed}`);
  }
  return body;
}

const post = (key: string, name: string): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', 'idempotency-key': key },
  body: JSON.stringify({ name, note: 'a small body, as a service call carries' }),
});

/** One round at one concurrency: each kind once, in `order`; replays and GETs use this round's plugin rows. */
async function round(urls: Urls, watched: Record<string, number>, concurrency: number, order: Kind[]): Promise<Map<Kind, Sample>> {
  const count = concurrency * PER_CLIENT;
  const tag = randomBytes(4).toString('hex');
  const keys = Array.from({ length: count }, (_, i) => `bench-${tag}-${i}`);
  const ids: string[] = [];
  const send: Record<Kind, (i: number) => Promise<void>> = {
    plain: async (i) => void (await request(`${urls.plain}/widgets`, post(`plain-${keys[i]}`, `w${i}`), 201)),
    plugin: async (i) => {
      const { id } = await request(`${urls.idempotent}/widgets`, post(keys[i]!, `w${i}`), 201, false);
      ids[i] = id!;
    },
    replay: async (i) => void (await request(`${urls.idempotent}/widgets`, post(keys[i]!, `w${i}`), 201, true)),
    get: async (i) => void (await request(`${urls.idempotent}/widgets/${ids[i]}`, { method: 'GET' }, 200)),
  };
  // Replays and GETs need the plugin's rows: the plugin batch moves before them if need be.
  const sequence = [...order];
  const pluginAt = sequence.indexOf('plugin');
  const firstReader = Math.min(sequence.indexOf('replay'), sequence.indexOf('get'));
  if (pluginAt > firstReader) sequence.splice(firstReader, 0, ...sequence.splice(pluginAt, 1));
  const out = new Map<Kind, Sample>();
  for (const kind of sequence) {
    const before = cpuSeconds(watched);
    const { seconds, latencies } = await drive(count, concurrency, send[kind]);
    out.set(kind, { seconds, count, latencies, cpu: delta(cpuSeconds(watched), before) });
  }
  return out;
}

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-plugin-'));
  const [pgPort, plainPort, idempotentPort] = await freePorts(3);
  let postgres: PostgresHandle | undefined;
  let server: ChildHandle | undefined;
  const stop = async () => {
    await server?.stop(5_000);
    await postgres?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  handleShutdown(stop, { repeatedSignal: 'wait' });
  try {
    postgres = await startEmbeddedPostgres({ dataDir, host: '127.0.0.1', port: pgPort!, fast: NO_FSYNC, log: () => undefined });
    const url = withDatabase(postgres.url, 'bench_plugin');
    await ensureDatabase(postgres.url, 'bench_plugin');
    server = spawnChild('plugin-server', process.execPath, ['--import', 'tsx', path.join(__dirname, 'plugin-server.ts')], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: url, PLAIN_PORT: String(plainPort), IDEMPOTENT_PORT: String(idempotentPort) },
    });
    await Promise.race([
      server.waitForLine(/^listening/),
      server.exited.then(() => Promise.reject(new Error(`plugin-server exited:\n${server!.tail().join('\n')}`))),
    ]);
    const urls: Urls = { plain: `http://127.0.0.1:${plainPort}`, idempotent: `http://127.0.0.1:${idempotentPort}` };
    const watched = { server: server.pid, postgres: postgres.pid! };
    const loadBefore = load1();
    process.stderr.write(`load average ${loadBefore}\n`);

    const results: { concurrency: number; samples: Map<Kind, Sample[]> }[] = [];
    for (const concurrency of CONCURRENCY) {
      // Untimed: JIT, pool connections, Postgres caches.
      await round(urls, watched, concurrency, KINDS);
      const samples = new Map<Kind, Sample[]>(KINDS.map((k) => [k, []]));
      for (let r = 1; r <= ROUNDS; r++) {
        const order = r % 2 === 1 ? KINDS : (['plugin', 'plain', 'get', 'replay'] as Kind[]);
        const got = await round(urls, watched, concurrency, order);
        for (const [k, s] of got) samples.get(k)!.push(s);
        const rate = (k: Kind) => got.get(k)!.count / got.get(k)!.seconds;
        process.stderr.write(
          `  ${concurrency} clients, round ${r}: plain ${fixed(rate('plain'), 0)}/s, plugin ${fixed(rate('plugin'), 0)}/s, ` +
            `replay ${fixed(rate('replay'), 0)}/s, get ${fixed(rate('get'), 0)}/s (load ${load1()})\n`,
        );
      }
      results.push({ concurrency, samples });
    }

    const rows: string[][] = [];
    const verdicts: string[] = [];
    for (const { concurrency, samples } of results) {
      const pooled = (k: Kind) => {
        const s = samples.get(k)!;
        const count = s.reduce((a, b) => a + b.count, 0);
        const lat = stats(s.flatMap((b) => b.latencies));
        const cpu = (name: string) => (s.reduce((a, b) => a + (b.cpu[name] ?? 0), 0) / count) * 1000;
        return { rate: count / s.reduce((a, b) => a + b.seconds, 0), p50: lat.p50, p95: lat.p95, serverMs: cpu('server'), pgMs: cpu('postgres'), rates: s.map((b) => b.count / b.seconds) };
      };
      const p = Object.fromEntries(KINDS.map((k) => [k, pooled(k)])) as Record<Kind, ReturnType<typeof pooled>>;
      for (const k of KINDS) {
        const vs = k === 'plugin' ? p.plain : k === 'replay' ? p.get : undefined;
        const goal = k === 'plugin' ? 0.75 : k === 'replay' ? 0.8 : undefined;
        const perRound = vs ? p[k].rates.map((r, i) => (r / vs.rates[i]!).toFixed(2)).join(' ') : '';
        rows.push([
          String(concurrency),
          LABEL[k],
          fixed(p[k].rate, 0),
          vs ? `${ratio(p[k].rate, vs.rate)} ${p[k].rate / vs.rate >= goal! ? '✅' : '❌'} (goal ≥ ${goal}×)` : '',
          perRound,
          fixed(p[k].p50, 2),
          fixed(p[k].p95, 2),
          fixed(p[k].serverMs, 2),
          fixed(p[k].pgMs, 2),
        ]);
      }
      verdicts.push(`${concurrency} clients: (c) ${ratio(p.plugin.rate, p.plain.rate)}, (d) ${ratio(p.replay.rate, p.get.rate)}`);
    }
    const table = markdownTable(
      ['clients', 'request', 'req/s', 'ratio', 'per-round ratios', 'p50 ms', 'p95 ms', 'server CPU ms/req', 'Postgres CPU ms/req'],
      rows,
    );
    const body = [
      `Command: \`${commandLine('bench:plugin')}\` — one server process (tools/bench/plugin-server.ts) with the same`,
      'handler (one INSERT in a transaction) mounted without and with the idempotency plugin, and a primary-key GET on the',
      `plugin's app; embedded Postgres, ${NO_FSYNC ? '**fsync and synchronous_commit off (a what-if: the commit flushes removed)**' : 'default durability'}; ${ROUNDS} alternating rounds per concurrency after an untimed one,`,
      `${PER_CLIENT} requests per client per batch. Ratios: new through the plugin ÷ handler alone (c), replay ÷ GET (d).`,
      `Machine: ${machine()}; load average ${loadBefore} before, ${load1()} after.`,
      '',
      table,
    ].join('\n');
    console.log(`\n${body}\n\n${verdicts.join('\n')}`);
    appendResults('Idempotency plugin: new requests and replays (`tools/bench/plugin.ts`)', body);
  } finally {
    await stop();
  }
}

runTool(main);
