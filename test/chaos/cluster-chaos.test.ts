/**
 * The small version of `npm run chaos -- --cluster` (the large one: docs/cluster-chaos-run.md):
 * on the production topology of `npm run start:cluster`, in a folder of its own and on free
 * ports (a Temporal cluster of four service processes on its own Postgres, two workers, two API
 * replicas the clients alternate between), 40 checkouts under 20 % faults while each worker is
 * SIGKILLed (one at a time) and history, matching, the frontend and Temporal's Postgres are each
 * restarted once; then 20 checkouts waiting at once with a refund burst. The audit must find no
 * violation and no stuck checkout, and the clients nothing unexplained.
 *
 * Needs the start:cluster binaries (built by `.ci/run` before the tests): skipped without them
 * outside CI, a failure in CI, as test/infra/cluster.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatAuditReport } from '../../tools/audit/report';
import { PidDir } from '../../tools/dev/leftovers';
import { pidDirOf } from '../../tools/dev/sandbox/state';
import { CLUSTER_KILL_TARGETS, clusterInfraRestarts, ensureWorkerKills, startClusterChaosStack, type ClusterChaosStack } from '../../tools/chaos/cluster-stack';
import { faultSpecs, planCheckouts, planKills } from '../../tools/chaos/plan';
import { runChaos } from '../../tools/chaos/run';
import { chaosFindings, formatChaosSummary } from '../../tools/chaos/summary';
import { CHAOS_DELAY_MS } from '../../tools/chaos/stack';
import { cachedClusterBinaries, clusterTest } from '../infra/cluster-support';

jest.setTimeout(480_000);

const SEED = 20_261_201;
const CHECKOUTS = 40;
const BURST = 20;

let dataDir: string | undefined;
let chaos: ClusterChaosStack | undefined;

afterAll(async () => {
  await chaos?.stop();
  if (dataDir) {
    await new PidDir(pidDirOf(dataDir)).sweep();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

clusterTest()(
  `cluster: ${CHECKOUTS} checkouts through both API replicas while each worker is killed and history, matching, the frontend and Temporal's Postgres restart; then ${BURST} at once: nothing found`,
  async () => {
    if (!cachedClusterBinaries()) throw new Error('the start:cluster binaries are not built: npx tsx tools/dev/cluster/locate-main.ts (.ci/run does)');
    const log = (line: string) => process.stderr.write(`${line}\n`);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-chaos-test-'));
    const began = Date.now();
    chaos = await startClusterChaosStack({ faults: faultSpecs(0.2, CHAOS_DELAY_MS), seed: SEED, dataDir, log });
    log(`chaos: cluster ready in ${Date.now() - began} ms`);

    const plan = planCheckouts({ checkouts: CHECKOUTS, seed: SEED });
    const kills = ensureWorkerKills(
      planKills({ checkouts: CHECKOUTS, seed: SEED, kills: 4, targets: CLUSTER_KILL_TARGETS, restartTemporal: false, infraRestarts: clusterInfraRestarts(2_000) }),
    );
    const burst = { plan: planCheckouts({ checkouts: BURST, seed: SEED + 1, keyPrefix: `chaos-${SEED}-burst` }), concurrency: BURST, refundRequests: 30 };
    const result = await runChaos(chaos, plan, kills, { concurrency: 10, settleTimeoutMs: 120_000, seed: SEED, burst, log });
    log(`${formatChaosSummary(result)}\n\n${formatAuditReport(result.audit)}`);

    // Every planned event happened and came back: each worker killed (one at a time, the monkey
    // runs one event after another), each Temporal part restarted once.
    expect(result.restartFailures).toEqual([]);
    expect(result.kills).toMatchObject({ 'worker-1': expect.any(Number), 'worker-2': expect.any(Number), 'temporal-history': 1, 'temporal-matching': 1, 'temporal-frontend': 1, 'temporal-postgres': 1 });
    expect(Object.values(result.kills).reduce((a, b) => a + b, 0)).toBe(kills.length);
    expect(result.unexpectedDeaths).toEqual({});

    // Both replicas took requests.
    expect(Object.keys(result.answers.byReplica ?? {}).sort()).toEqual([...chaos.apiUrls].sort());

    // The audit: nothing violated, nothing stuck, every checkout terminal.
    expect(result.audit.violations).toEqual([]);
    expect(result.audit.invariants.find((i) => i.id === 'not-stuck')?.violations).toBe(0);
    expect(result.outcomes).toHaveLength(CHECKOUTS + BURST);
    expect(result.audit.terminal).toBe(result.outcomes.length);

    // The clients: no 500, no 503 without Retry-After, no hang, no 409 to a duplicate, one checkout per key.
    expect(result.answers.findings).toEqual({ serverErrors: 0, unavailableWithoutRetryAfter: 0, hangs: 0, duplicateConflicts: 0, examples: [] });
    expect(result.outcomes.filter((o) => o.divergent || o.rejected)).toEqual([]);
    expect(result.refundBurst).toMatchObject({ requests: 30, unexpected: [], divergentKeys: 0, unsettled: 0 });
    expect(chaosFindings(result)).toBe(0);
  },
);
