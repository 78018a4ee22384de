/**
 * `npm run chaos -- --checkouts 1000 --fault-rate 0.2 --seed 42 --concurrency 10`
 *
 * Starts a complete, private system on free ports (embedded Postgres, a persistent Temporal dev
 * server, mailbox, three services with FAULTS, worker, API), drives the checkouts through the
 * API (each waiting on its result with `Prefer: wait`) while SIGKILLing every process at planned
 * moments, restarting Temporal once and stopping Postgres once for a few seconds; then a burst at
 * high concurrency (checkouts waiting at once, and a burst of refund requests); waits for all
 * checkouts to finish (bounded), audits docs/api.md#invariants and prints one summary. Exit 1 on
 * any violation, and on any answer nothing explains (a 500, a 503 without Retry-After, a hang,
 * a 409 to a duplicate, a wrong answer in the refund burst, a process that did not recover).
 * Options:
 *   --checkouts N          checkouts of the main load (default 200)
 *   --fault-rate R         chance of a fault per service request, split before/after/delay (default 0.2)
 *   --seed S               seeds the load, the faults and the kill plan (default 1)
 *   --concurrency C        clients of the main load, one checkout each at a time (default 10)
 *   --kills K              SIGKILLs of application processes (default: 6, or N/100 if more)
 *   --outage S             seconds Postgres is stopped, at 70 % of the main load (default 5; 0: none)
 *   --burst-checkouts N    checkouts of the burst (default: N/5, at least the burst concurrency; 0: no burst)
 *   --burst-concurrency C  clients at once in the burst, each waiting with Prefer: wait (default 50)
 *   --refund-burst N       refund requests sent at once during the burst (default 100)
 *   --wait S               the Prefer: wait of every checkout request (default 30, the API's maximum)
 *   --settle-timeout S     seconds to wait for stragglers after the load (default 180)
 *   --keep                 keep the data folder (logs, databases, Temporal file) for a post-mortem
 *   --cluster              the production topology of `npm run start:cluster` instead (docs/cluster-chaos-run.md):
 *                          a Temporal cluster (frontend, history, matching, worker as separate processes) on its
 *                          own Postgres, two workers, two API replicas the clients spread their requests over;
 *                          the kills hit one process at a time (each worker, each API replica, the services) and
 *                          history, matching, the frontend and Temporal's Postgres are each restarted once
 *                          (no dev-server restart; --outage defaults to 0 there: the services' Postgres stays up)
 *   --infra-down S         --cluster: seconds each restarted Temporal part stays down (default 2)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { handleShutdown } from '../../src/platform/bootstrap';
import { formatAuditReport } from '../audit/report';
import { faultSpecs, planCheckouts, planKills } from './plan';
import { runChaos } from './run';
import { chaosFindings, formatChaosSummary } from './summary';
import { PidDir } from '../dev/leftovers';
import { pidDirOf } from '../dev/sandbox/state';
import { CHAOS_DELAY_MS, startChaosStack, type ChaosStack } from './stack';
import { CLUSTER_KILL_TARGETS, clusterInfraRestarts, ensureWorkerKills, startClusterChaosStack, type ClusterChaosStack } from './cluster-stack';
import { runTool } from '../support/run-tool';

const say = (line: string) => process.stderr.write(`${line}\n`);

function options() {
  const { values } = parseArgs({
    options: {
      checkouts: { type: 'string', default: '200' },
      'fault-rate': { type: 'string', default: '0.2' },
      seed: { type: 'string', default: '1' },
      concurrency: { type: 'string', default: '10' },
      kills: { type: 'string' },
      outage: { type: 'string' },
      'burst-checkouts': { type: 'string' },
      'burst-concurrency': { type: 'string', default: '50' },
      'refund-burst': { type: 'string', default: '100' },
      wait: { type: 'string', default: '30' },
      'settle-timeout': { type: 'string', default: '180' },
      keep: { type: 'boolean', default: false },
      cluster: { type: 'boolean', default: false },
      'infra-down': { type: 'string', default: '2' },
    },
  });
  const n = (name: string, raw: string | undefined, min: number) => {
    const v = Number(raw);
    if (!Number.isFinite(v) || v < min) throw new Error(`--${name} must be a number ≥ ${min}, got "${raw}"`);
    return v;
  };
  const checkouts = Math.floor(n('checkouts', values.checkouts, 1));
  const burstConcurrency = Math.floor(n('burst-concurrency', values['burst-concurrency'], 1));
  return {
    checkouts,
    faultRate: n('fault-rate', values['fault-rate'], 0),
    seed: Math.floor(n('seed', values.seed, 0)),
    concurrency: Math.floor(n('concurrency', values.concurrency, 1)),
    kills: Math.floor(values.kills === undefined ? Math.max(6, checkouts / 100) : n('kills', values.kills, 0)),
    outageMs: values.outage === undefined ? (values.cluster ? 0 : 5_000) : n('outage', values.outage, 0) * 1000,
    burstCheckouts: Math.floor(
      values['burst-checkouts'] === undefined ? Math.max(burstConcurrency, checkouts / 5) : n('burst-checkouts', values['burst-checkouts'], 0),
    ),
    burstConcurrency,
    refundBurst: Math.floor(n('refund-burst', values['refund-burst'], 0)),
    preferWaitSeconds: Math.floor(n('wait', values.wait, 0)),
    settleTimeoutMs: n('settle-timeout', values['settle-timeout'], 1) * 1000,
    keep: values.keep,
    cluster: values.cluster,
    infraDownMs: n('infra-down', values['infra-down'], 0) * 1000,
  };
}

async function main(): Promise<number> {
  const opts = options();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'checkout-saga-chaos-'));
  const host = '127.0.0.1';
  let chaos: ChaosStack | ClusterChaosStack | undefined;
  const cleanUp = async () => {
    await chaos?.stop().catch(() => undefined);
    await new PidDir(pidDirOf(dataDir)).sweep();
    if (!opts.keep) fs.rmSync(dataDir, { recursive: true, force: true });
  };
  // An interrupted run is not a clean one: it exits 130, as a shell reports Ctrl-C.
  handleShutdown(cleanUp, { repeatedSignal: 'wait', signalExitCode: 130 });

  try {
    say(`chaos: ${JSON.stringify(opts)}; data in ${dataDir}`);
    // The stack's own Postgres (a throwaway cluster, fsync off): the outage stops and starts it.
    Object.assign(process.env, { HOST: host, DATA_DIR: dataDir });
    const faults = faultSpecs(opts.faultRate, CHAOS_DELAY_MS);
    if (opts.cluster) {
      if (opts.outageMs) throw new Error('--outage is not supported with --cluster (the services\' Postgres stays up; Temporal\'s is restarted)');
      const began = Date.now();
      chaos = await startClusterChaosStack({ faults, seed: opts.seed, log: say });
      say(`chaos: cluster ready in ${((Date.now() - began) / 1000).toFixed(1)} s; API replicas ${chaos.apiUrls.join(', ')}; Temporal ${chaos.config.temporal.address}`);
    } else {
      const stack = await startChaosStack({ faults, seed: opts.seed, ownPostgres: true, log: say });
      chaos = stack;
      say(`chaos: stack ${stack.stack.id} ready; API ${stack.apiUrl}`);
    }

    const plan = planCheckouts({ checkouts: opts.checkouts, seed: opts.seed });
    const planned = planKills({
      checkouts: opts.checkouts,
      seed: opts.seed,
      kills: opts.kills,
      targets: opts.cluster ? CLUSTER_KILL_TARGETS : ['worker', 'payment', 'order', 'notification', 'api', 'mailbox'],
      restartTemporal: !opts.cluster,
      postgresOutageMs: opts.outageMs,
      infraRestarts: opts.cluster ? clusterInfraRestarts(opts.infraDownMs) : undefined,
    });
    const kills = opts.cluster ? ensureWorkerKills(planned) : planned;
    const burst = {
      plan: planCheckouts({ checkouts: opts.burstCheckouts, seed: opts.seed + 1, keyPrefix: `chaos-${opts.seed}-burst` }),
      concurrency: opts.burstConcurrency,
      refundRequests: opts.refundBurst,
    };
    const result = await runChaos(chaos, plan, kills, { ...opts, burst, log: say });
    console.log(`${formatChaosSummary(result)}\n\n${formatAuditReport(result.audit)}`);
    if (opts.keep) say(`chaos: data kept in ${dataDir}`);
    return result.audit.ok && chaosFindings(result) === 0 ? 0 : 1;
  } finally {
    await cleanUp();
  }
}

runTool(main, { failureCode: 2, report: (err) => say(`chaos failed: ${(err as Error).stack ?? String(err)}`) });
