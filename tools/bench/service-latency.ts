/**
 * What the idempotency layer costs and saves, per service: for one mutating route of each
 * (POST /charges, POST /orders, POST /notifications) the latency of a new request (claim, handler,
 * effect and stored response in one transaction) against a replay of it (one lookup, the stored
 * answer sent back). Runs the real processes, as `npm start` does, on a throwaway embedded
 * Postgres with its default (durable) settings, on free ports.
 *
 *   npx tsx tools/bench/service-latency.ts [N=500] [concurrency=10]
 *
 * Prints a table and appends it to tools/bench/RESULTS.md with the date and command.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { handleShutdown } from '../../src/platform/bootstrap';
import { loadConfig, portEnv, type Config, type ServiceName } from '../../src/platform/config';
import type { ChildHandle } from '../dev/child';
import { startPostgres, type PostgresHandle } from '../dev/postgres';
import { processSpec, startProcess, type ProcessName } from '../dev/processes';
import { freePorts } from '../dev/wait';

const N = Number(process.argv[2] ?? 500);
const CONCURRENCY = Number(process.argv[3] ?? 10);
/** Untimed requests first, so JIT compilation and pool connections are not measured. */
const WARMUP = 50;
const ROUNDS = 5;
const RESULTS_FILE = path.join(__dirname, 'RESULTS.md');

interface Route {
  service: ServiceName;
  path: string;
  /** Status of a successful new request (and of its replay). */
  status: number;
  body(i: number): unknown;
}

const ROUTES: Route[] = [
  {
    service: 'payment',
    path: '/charges',
    status: 201,
    body: () => ({ amount: 1999, currency: 'EUR', paymentMethod: 'tok_visa', customerId: 'cus_bench' }),
  },
  {
    service: 'order',
    path: '/orders',
    status: 201,
    // Spread over the five plentiful SKUs: one SKU would make every order queue on its stock row.
    body: (i) => ({ customerId: 'cus_bench', chargeId: `ch_bench${i}`, items: [{ sku: `SKU-${(i % 5) + 1}`, quantity: 1, unitAmount: 1999 }] }),
  },
  {
    service: 'notification',
    path: '/notifications',
    status: 202,
    body: (i) => ({ to: 'bench@example.com', template: 'order-confirmation', data: { orderId: `ord_bench${i}` } }),
  },
];

interface Stats {
  p50: number;
  p95: number;
}

interface Row {
  route: string;
  fresh: Stats;
  replay: Stats;
}

/** Nearest-rank percentile of samples in ms. */
function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95) };
}

/** Sends request 0..count-1 with `concurrency` in flight; returns each one's latency in ms. */
async function drive(count: number, concurrency: number, send: (i: number) => Promise<void>): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < count; i = next++) {
        const started = performance.now();
        await send(i);
        latencies.push(performance.now() - started);
      }
    }),
  );
  return latencies;
}

async function measure(config: Config, route: Route): Promise<Row> {
  const url = `${config.serviceUrls[route.service]}${route.path}`;
  const run = randomBytes(4).toString('hex');
  const post = async (key: string, body: unknown, replayed: boolean) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${config.serviceToken}`,
        'idempotency-key': key,
        'content-type': 'application/json',
      },
      body: JSON.stringify(body),
    });
    await res.arrayBuffer();
    // A failed or mis-classified request would measure something else: stop rather than report it.
    if (res.status !== route.status || (res.headers.get('idempotent-replayed') === 'true') !== replayed) {
      throw new Error(`${route.path} ${key}: got ${res.status}, replayed=${res.headers.get('idempotent-replayed')}; expected ${route.status}, replayed=${replayed}`);
    }
  };
  const key = (phase: string, i: number) => `bench_${run}_${phase}_${i}`;

  await drive(WARMUP, CONCURRENCY, (i) => post(key('warm', i), route.body(i), false));
  await drive(WARMUP, CONCURRENCY, (i) => post(key('warm', i), route.body(i), true));
  // New requests and their replays alternate in rounds, so a change in machine load over the
  // run weighs on both sides alike rather than on whichever ran later.
  const fresh: number[] = [];
  const replay: number[] = [];
  const perRound = Math.ceil(N / ROUNDS);
  for (let start = 0; start < N; start += perRound) {
    const size = Math.min(perRound, N - start);
    fresh.push(...(await drive(size, CONCURRENCY, (i) => post(key('new', start + i), route.body(start + i), false))));
    replay.push(...(await drive(size, CONCURRENCY, (i) => post(key('new', start + i), route.body(start + i), true))));
  }
  return { route: `${route.service} POST ${route.path}`, fresh: stats(fresh), replay: stats(replay) };
}

const ms = (v: number) => v.toFixed(2);

function table(rows: Row[]): string {
  const lines = [
    '| route | new p50 (ms) | new p95 (ms) | replay p50 (ms) | replay p95 (ms) | new ÷ replay (p50) |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.route} | ${ms(r.fresh.p50)} | ${ms(r.fresh.p95)} | ${ms(r.replay.p50)} | ${ms(r.replay.p95)} | ${(r.fresh.p50 / r.replay.p50).toFixed(1)}× |`,
    ),
  ];
  return lines.join('\n');
}

/** 1-minute load average: on a small machine, other work running beside the bench skews it. */
const load1 = () => os.loadavg()[0]!.toFixed(1);

function appendResults(rows: Row[], loadBefore: string): void {
  const cpus = os.cpus();
  const section = [
    `## Service latency: new request vs replay (${new Date().toISOString().slice(0, 10)})`,
    '',
    `Command: \`npx tsx tools/bench/service-latency.ts ${N} ${CONCURRENCY}\` — per route ${N} new requests and the same ${N} replayed,`,
    `in ${ROUNDS} alternating rounds, concurrency ${CONCURRENCY}, after ${WARMUP} untimed warm-up requests and replays. Real service processes`,
    `(LOG_LEVEL=warn) and embedded Postgres with default durability, client and servers on one machine:`,
    `${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.version}; load average ${loadBefore} before, ${load1()} after.`,
    '',
    table(rows),
    '',
  ].join('\n');
  const existing = fs.existsSync(RESULTS_FILE) ? fs.readFileSync(RESULTS_FILE, 'utf8') : '# Benchmark results\n';
  fs.writeFileSync(RESULTS_FILE, `${existing.trimEnd()}\n\n${section}`);
}

/** The env of the bench's own system: fresh folder and ports, nothing inherited that points elsewhere. */
async function benchEnv(dataDir: string): Promise<NodeJS.ProcessEnv> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Any *_URL (DATABASE_URL, SMTP_URL, PAYMENT_URL…) would aim the processes at another system,
  // and FAULTS would measure injected failures.
  for (const k of Object.keys(env)) if (k.endsWith('_URL') || k.startsWith('FAULTS')) delete env[k];
  const portNames = ['postgres', 'payment', 'order', 'notification', 'mailboxHttp', 'mailboxSmtp'] as const;
  const ports = await freePorts(portNames.length);
  portNames.forEach((p, i) => (env[portEnv(p)] = String(ports[i])));
  return { ...env, HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
}

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'service-latency-'));
  const env = await benchEnv(dataDir);
  const config = loadConfig(env);
  let postgres: PostgresHandle | undefined;
  const children: ChildHandle[] = [];
  const stop = async () => {
    await Promise.all(children.map((c) => c.stop(5_000)));
    await postgres?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  handleShutdown(stop, { repeatedSignal: 'wait' });

  try {
    postgres = await startPostgres(config);
    const names: ProcessName[] = ['mailbox', 'payment', 'order', 'notification'];
    // allSettled: every process that did start is in `children` before stop() runs.
    const started = await Promise.allSettled(
      names.map(async (name) => children.push(await startProcess(processSpec(name), { env }))),
    );
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const loadBefore = load1();
    const rows: Row[] = [];
    for (const route of ROUTES) {
      process.stderr.write(`measuring ${route.service} POST ${route.path}…\n`);
      rows.push(await measure(config, route));
    }
    const result = table(rows);
    console.log(`\n${result}\n`);
    appendResults(rows, loadBefore);
    console.log(`appended to ${path.relative(process.cwd(), RESULTS_FILE)}`);
  } finally {
    await stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
