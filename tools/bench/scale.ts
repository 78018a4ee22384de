/**
 * `npm run bench:scale`: does a checkout cost the same after 20k of them (issue goal f)? The whole
 * system as `npm start` runs it (tools/bench/support/stack.ts); `--concurrency` clients send
 * checkouts through the API with `Prefer: wait=30` without pause until the largest size.
 * Reported at each size (default 1k, 10k, 20k checkouts):
 *  - throughput over the last `--window` checkouts before it (the first window is the reference:
 *    flat = every window within 10 % of it), and the CPU per checkout of every process between one
 *    size and the next (on a shared machine the steadier measure of "a checkout costs the same");
 *  - each process's resident memory (PSS where readable: shared pages counted once), the largest
 *    sample of the window, sampled every 5 s;
 *  - the idempotency tables (every service's `idempotency_keys`, the API's `checkouts` record):
 *    rows and bytes, and growth per 10k checkouts; the Temporal SQLite file's size.
 * Then the purge's cost: each service's `purgeExpired` (src/platform/idempotency/store.ts) with a
 * retention of 0, timed, per 10k rows, with its Postgres CPU.
 *
 *   npm run bench:scale -- [--sizes 1000,10000,20000] [--concurrency 10] [--window 1000]
 *
 * The largest size takes about an hour on two shared cores; pass smaller sizes for a quick look.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Pool } from 'pg';
import { DATABASES, type DatabaseName } from '../../src/platform/config';
import { purgeExpired } from '../../src/platform/idempotency/store';
import { sampleCheckoutRequest } from '../support/samples';
import { appendResults, commandLine, fixed, intList, load1, machine, markdownTable, option, positiveInt, ratio, stats } from './support/measure';
import { cpuSeconds, delta, type Watched } from './support/proc';
import { BENCH_API_KEY, startBenchStack } from './support/stack';
import { runTool } from '../support/run-tool';

const SIZES = option('sizes', [1000, 10_000, 20_000], intList);
const CONCURRENCY = option('concurrency', 10, positiveInt);
const WINDOW = option('window', 1000, positiveInt);
const RSS_EVERY_MS = 5_000;
const WARMUP = 50;

/** The tables that grow with every checkout's keys, per database. */
const TABLES: Record<DatabaseName, string> = {
  payment: 'idempotency_keys',
  order: 'idempotency_keys',
  notification: 'idempotency_keys',
  checkout: 'checkouts',
};

/** Proportional set size (shared pages split among their users) of a process tree, else its RSS. */
function memoryBytes(watched: Watched): Record<string, number> {
  const all = fs.readdirSync('/proc').filter((f) => /^\d+$/.test(f));
  const parent = new Map<number, number>();
  for (const pid of all) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      parent.set(Number(pid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited
    }
  }
  const pss = (pid: number) => {
    try {
      const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      return Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? 0) * 1024;
    } catch {
      return 0;
    }
  };
  const out: Record<string, number> = {};
  for (const [name, root] of Object.entries(watched)) {
    const members = [root];
    for (let i = 0; i < members.length; i++) for (const [pid, pp] of parent) if (pp === members[i]) members.push(pid);
    out[name] = members.reduce((s, pid) => s + pss(pid), 0);
  }
  return out;
}

interface TableSize {
  rows: number;
  bytes: number;
}

async function tableSizes(pools: Map<DatabaseName, Pool>): Promise<Record<DatabaseName, TableSize>> {
  const out = {} as Record<DatabaseName, TableSize>;
  for (const [db, pool] of pools) {
    const table = TABLES[db];
    const { rows } = await pool.query<{ rows: string; bytes: string }>(
      `SELECT (SELECT count(*) FROM ${table}) AS rows, pg_total_relation_size('${table}') AS bytes`,
    );
    out[db] = { rows: Number(rows[0]!.rows), bytes: Number(rows[0]!.bytes) };
  }
  return out;
}

const mb = (bytes: number) => fixed(bytes / 1024 / 1024, 1);

async function main(): Promise<void> {
  const sizes = [...SIZES].sort((a, b) => a - b);
  const total = sizes.at(-1)!;
  const stack = await startBenchStack({ label: 'scale' });
  const loadBefore = load1();
  process.stderr.write(`stack ready (logs: ${stack.logDir}); ${total} checkouts at ${CONCURRENCY} clients; load average ${loadBefore}\n`);
  const pools = new Map(DATABASES.map((d) => [d, new Pool({ connectionString: stack.config.databaseUrls[d], max: 1 })]));
  const sqlite = path.join(stack.config.dataDir, 'temporal.sqlite');
  try {
    const checkout = async (key: string, i: number) => {
      const res = await fetch(`${stack.config.apiUrl}/checkouts`, {
        method: 'POST',
        headers: { authorization: `Bearer ${BENCH_API_KEY}`, 'idempotency-key': key, 'content-type': 'application/json', prefer: 'wait=30' },
        body: JSON.stringify(sampleCheckoutRequest({ items: [{ sku: `SKU-${(i % 5) + 1}`, quantity: 1, unitAmount: 1999 }] })),
      });
      const body = (await res.json()) as { status?: string };
      if (res.status !== 201 || body.status !== 'completed') return `${res.status} ${body.status ?? ''}`;
      return undefined;
    };
    for (let i = 0; i < WARMUP; i++) await checkout(`warm-${i}`, i);

    const watched = stack.watched();
    const done: number[] = []; // completion time (ms since start) of each checkout, in order
    const latencies: number[] = [];
    const failures: string[] = [];
    const memory: { at: number; bytes: Record<string, number> }[] = [];
    const marks: { size: number; tables: Record<DatabaseName, TableSize>; sqliteBytes: number; cpu: Record<string, number>; load: string }[] = [];
    const started = performance.now();
    const cpuStart = cpuSeconds(watched);
    const sampler = setInterval(() => memory.push({ at: done.length, bytes: memoryBytes(watched) }), RSS_EVERY_MS);
    let next = 0;
    let pendingMark: Promise<void> = Promise.resolve();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let i = next++; i < total; i = next++) {
          const t = performance.now();
          const failure = await checkout(`scale-${i}`, i);
          if (failure) failures.push(failure);
          latencies.push(performance.now() - t);
          done.push(performance.now() - started);
          const n = done.length;
          if (sizes.includes(n)) {
            const cpu = delta(cpuSeconds(watched), cpuStart);
            pendingMark = pendingMark.then(async () => {
              marks.push({ size: n, tables: await tableSizes(pools), sqliteBytes: fs.statSync(sqlite).size, cpu, load: load1() });
            });
          }
          if (n % 500 === 0) process.stderr.write(`  ${n} checkouts, ${fixed((500 * 1000) / (done[n - 1]! - (done[n - 501] ?? 0)))} /s over the last 500 (load ${load1()})\n`);
        }
      }),
    );
    clearInterval(sampler);
    await pendingMark;
    const loadAfter = load1();

    // The purge: every service's idempotency records, all expired (retention 0), as its timer would.
    const purge: string[][] = [];
    for (const db of ['payment', 'order', 'notification'] as const) {
      const before = cpuSeconds({ postgres: watched.postgres! });
      const t = performance.now();
      const rows = await purgeExpired(pools.get(db)!, 0);
      const ms = performance.now() - t;
      const pgCpu = delta(cpuSeconds({ postgres: watched.postgres! }), before).postgres!;
      purge.push([db, String(rows), fixed(ms, 0), fixed((ms * 10_000) / Math.max(1, rows), 0), fixed((pgCpu * 1000 * 10_000) / Math.max(1, rows), 0)]);
    }

    const rateAt = (size: number) => {
      const from = Math.max(0, size - WINDOW);
      return (size - from) / ((done[size - 1]! - (from > 0 ? done[from - 1]! : 0)) / 1000);
    };
    const ref = rateAt(sizes[0]!);
    const throughput = markdownTable(
      ['checkouts so far', `checkouts/s over the last ${WINDOW}`, 'vs the first window (goal within ±10 %)', 'load average then'],
      marks.map((m) => {
        const r = rateAt(m.size);
        return [String(m.size), fixed(r), `${ratio(r, ref)} ${Math.abs(r / ref - 1) <= 0.1 ? '✅' : '❌'}`, m.load];
      }),
    );
    const names = Object.keys(watched);
    const peakIn = (size: number) => {
      const from = Math.max(0, size - WINDOW);
      const samples = memory.filter((s) => s.at > from && s.at <= size);
      return Object.fromEntries(names.map((n) => [n, Math.max(0, ...samples.map((s) => s.bytes[n] ?? 0))]));
    };
    const rss = markdownTable(
      ['memory (MB, PSS)', ...marks.map((m) => `at ${m.size}`)],
      names.map((n) => [n, ...marks.map((m) => mb(peakIn(m.size)[n] ?? 0))]),
    );
    const first = marks[0]!;
    const last = marks.at(-1)!;
    const growth = markdownTable(
      ['table', ...marks.map((m) => `rows / MB at ${m.size}`), 'rows per 10k checkouts', 'MB per 10k checkouts'],
      [
        ...DATABASES.map((db) => {
          const perTenK = (v: (t: TableSize) => number) => ((v(last.tables[db]) - v(first.tables[db])) * 10_000) / Math.max(1, last.size - first.size);
          return [
            `${db}: ${TABLES[db]}`,
            ...marks.map((m) => `${m.tables[db].rows} / ${mb(m.tables[db].bytes)}`),
            fixed(perTenK((t) => t.rows), 0),
            mb(perTenK((t) => t.bytes)),
          ];
        }),
        [
          'Temporal SQLite file',
          ...marks.map((m) => `— / ${mb(m.sqliteBytes)}`),
          '',
          mb(((last.sqliteBytes - first.sqliteBytes) * 10_000) / Math.max(1, last.size - first.size)),
        ],
      ],
    );
    // CPU per checkout between one size and the next: what a checkout costs once that many were made.
    // It moves far less with the machine's other load than throughput does.
    const cpuBetween = (i: number, n: string) => {
      const m = marks[i]!;
      const prev = i > 0 ? marks[i - 1]! : undefined;
      return (((m.cpu[n] ?? 0) - (prev?.cpu[n] ?? 0)) * 1000) / (m.size - (prev?.size ?? 0));
    };
    const totalBetween = (i: number) => names.reduce((sum, n) => sum + cpuBetween(i, n), 0);
    const cpuPer = markdownTable(
      ['CPU ms per checkout', ...marks.map((m, i) => `checkouts ${i ? marks[i - 1]!.size : 0}–${m.size}`)],
      [
        ...names.map((n) => [n, ...marks.map((_, i) => fixed(cpuBetween(i, n), 1))]),
        [
          '**all processes** (vs the first span, goal within ±10 %)',
          ...marks.map((_, i) => `**${fixed(totalBetween(i), 1)}** ${ratio(totalBetween(i), totalBetween(0))} ${Math.abs(totalBetween(i) / totalBetween(0) - 1) <= 0.1 ? '✅' : '❌'}`),
        ],
      ],
    );
    const purgeTable = markdownTable(['service', 'rows purged', 'ms', 'ms per 10k rows', 'Postgres CPU ms per 10k rows'], purge);
    const lat = stats(latencies);
    const body = [
      `Command: \`${commandLine('bench:scale')}\` — ${total} checkouts through the API (\`Prefer: wait=30\`), ${CONCURRENCY} clients,`,
      `without pause, after ${WARMUP} untimed; p50 ${fixed(lat.p50, 0)} ms, p95 ${fixed(lat.p95, 0)} ms overall; ${failures.length} did not complete${failures.length ? ` (${[...new Set(failures)].slice(0, 3).join('; ')})` : ''}.`,
      `Machine: ${machine()}; load average ${loadBefore} before, ${loadAfter} after (throughput per window is absolute, so load drift shows in it).`,
      '',
      throughput,
      '',
      `Memory of each process (largest sample in the window, every ${RSS_EVERY_MS / 1000} s):`,
      '',
      rss,
      '',
      'Growth of what every checkout leaves behind:',
      '',
      growth,
      '',
      cpuPer,
      '',
      'The purge (`purgeExpired`, retention 0: every record is past it), after the run:',
      '',
      purgeTable,
    ].join('\n');
    console.log(`\n${body}\n`);
    appendResults('Checkouts at scale (`tools/bench/scale.ts`)', body);
  } finally {
    await Promise.all([...pools.values()].map((p) => p.end()));
    await stack.stop();
  }
}

runTool(main);
