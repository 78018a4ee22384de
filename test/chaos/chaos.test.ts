/**
 * A small chaos run inside `npm test` (the large one is `npm run chaos`, see docs/chaos-run.md):
 * every test trigger (docs/api.md#test-triggers), duplicate and concurrent resubmissions, 20 % faults of every kind on
 * every service, SIGKILLs of random processes and a Temporal restart; then the audit of docs/api.md#invariants
 * must find nothing.
 */
import { formatAuditReport } from '../../tools/audit/report';
import { faultSpecs, planCheckouts, planKills, SCENARIOS } from '../../tools/chaos/plan';
import { runChaos } from '../../tools/chaos/run';
import { formatChaosSummary } from '../../tools/chaos/summary';
import { CHAOS_DELAY_MS, startChaosStack } from '../../tools/chaos/stack';

jest.setTimeout(300_000);

const SEED = 20_251_129;
const CHECKOUTS = 30;

test(`${CHECKOUTS} checkouts under 20 % faults, kills and a Temporal restart: the audit finds no violation`, async () => {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const chaos = await startChaosStack({ faults: faultSpecs(0.2, CHAOS_DELAY_MS), seed: SEED, log });
  try {
    const plan = planCheckouts({ checkouts: CHECKOUTS, seed: SEED });
    const kills = planKills({
      checkouts: CHECKOUTS,
      seed: SEED,
      kills: 3,
      targets: ['worker', 'payment', 'order', 'notification', 'api', 'mailbox'],
      restartTemporal: true,
    });
    const result = await runChaos(chaos, plan, kills, { concurrency: 4, settleTimeoutMs: 120_000, seed: SEED, log });
    log(`${formatChaosSummary(result)}\n\n${formatAuditReport(result.audit)}`);

    expect(new Set(plan.map((p) => p.scenario))).toEqual(new Set(SCENARIOS));
    expect(result.faults.before + result.faults.after + result.faults.delay).toBeGreaterThan(0);
    expect(Object.values(result.kills).reduce((a, b) => a + (b ?? 0), 0)).toBe(kills.length);
    expect(result.outcomes.filter((o) => o.divergent || o.rejected)).toEqual([]);
    expect(result.audit.violations).toEqual([]);
    expect(result.audit.terminal).toBe(CHECKOUTS);
    // Only planned kills: a process that dies on its own under faults is a bug.
    expect(result.unexpectedDeaths).toEqual({});
  } finally {
    await chaos.stop();
  }
});
