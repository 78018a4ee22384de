/**
 * `npm run chaos -- --checkouts 1000 --fault-rate 0.2 --seed 1 --concurrency 8`
 *
 * Starts a complete, private system on free ports (embedded Postgres, a persistent Temporal dev
 * server, mailbox, three services with FAULTS, worker, API), drives the checkouts through the
 * API while SIGKILLing every process at planned moments and restarting Temporal once, waits for
 * all checkouts to finish (bounded), audits docs/api.md#invariants and prints one summary. Exit 1 on any
 * violation. Options:
 *   --checkouts N       checkouts to drive (default 200)
 *   --fault-rate R      chance of a fault per service request, split before/after/delay (default 0.2)
 *   --seed S            seeds the load, the faults and the kill plan (default 1)
 *   --concurrency C     checkouts in flight at once (default 8)
 *   --kills K           SIGKILLs of application processes (default: 6, or N/100 if more)
 *   --settle-timeout S  seconds to wait for stragglers after the load (default 180)
 *   --keep              keep the data folder (logs, databases, Temporal file) for a post-mortem
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { handleShutdown } from '../../src/platform/bootstrap';
import { formatAuditReport } from '../audit/report';
import { faultSpecs, planCheckouts, planKills } from './plan';
import { runChaos } from './run';
import { formatChaosSummary } from './summary';
import { PidDir } from '../dev/leftovers';
import { startEmbeddedPostgres, type PostgresHandle } from '../dev/postgres';
import { freePort } from '../dev/wait';
import { pidDirOf } from '../dev/sandbox/state';
import { CHAOS_DELAY_MS, startChaosStack, type ChaosStack } from './stack';

const say = (line: string) => process.stderr.write(`${line}\n`);

function options() {
  const { values } = parseArgs({
    options: {
      checkouts: { type: 'string', default: '200' },
      'fault-rate': { type: 'string', default: '0.2' },
      seed: { type: 'string', default: '1' },
      concurrency: { type: 'string', default: '8' },
      kills: { type: 'string' },
      'settle-timeout': { type: 'string', default: '180' },
      keep: { type: 'boolean', default: false },
    },
  });
  const n = (name: string, raw: string | undefined, min: number) => {
    const v = Number(raw);
    if (!Number.isFinite(v) || v < min) throw new Error(`--${name} must be a number ≥ ${min}, got "${raw}"`);
    return v;
  };
  const checkouts = Math.floor(n('checkouts', values.checkouts, 1));
  return {
    checkouts,
    faultRate: n('fault-rate', values['fault-rate'], 0),
    seed: Math.floor(n('seed', values.seed, 0)),
    concurrency: Math.floor(n('concurrency', values.concurrency, 1)),
    kills: Math.floor(values.kills === undefined ? Math.max(6, checkouts / 100) : n('kills', values.kills, 0)),
    settleTimeoutMs: n('settle-timeout', values['settle-timeout'], 1) * 1000,
    keep: values.keep,
  };
}

async function main(): Promise<number> {
  const opts = options();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'checkout-saga-chaos-'));
  const host = '127.0.0.1';
  let postgres: PostgresHandle | undefined;
  let chaos: ChaosStack | undefined;
  const cleanUp = async () => {
    await chaos?.stop().catch(() => undefined);
    await new PidDir(pidDirOf(dataDir)).sweep();
    await postgres?.stop();
    if (!opts.keep) fs.rmSync(dataDir, { recursive: true, force: true });
  };
  // An interrupted run is not a clean one: it exits 130, as a shell reports Ctrl-C.
  handleShutdown(cleanUp, { repeatedSignal: 'wait', signalExitCode: 130 });

  try {
    say(`chaos: ${JSON.stringify(opts)}; data in ${dataDir}`);
    // Throwaway cluster: fsync off. Postgres is the one process the run never kills.
    postgres = await startEmbeddedPostgres({ dataDir, host, port: await freePort(host), fast: true, log: say });
    Object.assign(process.env, { HOST: host, DATA_DIR: dataDir, DATABASE_URL: postgres.url });
    chaos = await startChaosStack({ faults: faultSpecs(opts.faultRate, CHAOS_DELAY_MS), seed: opts.seed, log: say });
    say(`chaos: stack ${chaos.stack.id} ready; API ${chaos.apiUrl}`);

    const plan = planCheckouts({ checkouts: opts.checkouts, seed: opts.seed });
    const kills = planKills({
      checkouts: opts.checkouts,
      seed: opts.seed,
      kills: opts.kills,
      targets: ['worker', 'payment', 'order', 'notification', 'api', 'mailbox'],
      restartTemporal: true,
    });
    const result = await runChaos(chaos, plan, kills, { ...opts, log: say });
    console.log(`${formatChaosSummary(result)}\n\n${formatAuditReport(result.audit)}`);
    if (opts.keep) say(`chaos: data kept in ${dataDir}`);
    return result.audit.ok ? 0 : 1;
  } finally {
    await cleanUp();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    say(`chaos failed: ${(err as Error).stack ?? String(err)}`);
    process.exit(2);
  },
);
