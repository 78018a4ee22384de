/**
 * A small chaos run inside `npm test` (the large one is `npm run chaos`, see docs/chaos-run.md):
 * every test trigger (docs/api.md#test-triggers), duplicate and concurrent resubmissions, each
 * checkout waiting on its result (`Prefer: wait`), 20 % faults of every kind on every service,
 * SIGKILLs of random processes, a Temporal restart and a Postgres outage under load; then a burst
 * of 50 checkouts waiting at once while refund requests arrive all at once (duplicates of one
 * key, checkouts that do not exist). The audit of docs/api.md#invariants must find nothing, and
 * neither may the client: no 500, no 503 without Retry-After, no hang, no process that died on
 * its own or needed a restart after the outage.
 */
import { formatAuditReport } from '../../tools/audit/report';
import { faultSpecs, planCheckouts, planKills, SCENARIOS } from '../../tools/chaos/plan';
import { runChaos } from '../../tools/chaos/run';
import { chaosFindings, formatChaosSummary } from '../../tools/chaos/summary';
import { CHAOS_DELAY_MS, startChaosStack } from '../../tools/chaos/stack';

jest.setTimeout(300_000);

const SEED = 20_251_129;
const CHECKOUTS = 30;
const BURST = 50;

test(`${CHECKOUTS} checkouts under 20 % faults, kills, a Temporal restart and a Postgres outage, then ${BURST} waiting at once with a refund burst: nothing found`, async () => {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  // Its own Postgres: the outage must not stop the harness's, which other test files share.
  const began = Date.now();
  const chaos = await startChaosStack({ faults: faultSpecs(0.2, CHAOS_DELAY_MS), seed: SEED, ownPostgres: true, log });
  log(`chaos: stack ready in ${Date.now() - began} ms`);
  try {
    const plan = planCheckouts({ checkouts: CHECKOUTS, seed: SEED });
    const kills = planKills({
      checkouts: CHECKOUTS,
      seed: SEED,
      kills: 3,
      targets: ['worker', 'payment', 'order', 'notification', 'api', 'mailbox'],
      restartTemporal: true,
      postgresOutageMs: 3_000,
    });
    const burst = { plan: planCheckouts({ checkouts: BURST, seed: SEED + 1, keyPrefix: `chaos-${SEED}-burst` }), concurrency: BURST, refundRequests: 60 };
    const result = await runChaos(chaos, plan, kills, { concurrency: 4, settleTimeoutMs: 120_000, seed: SEED, burst, log });
    log(`${formatChaosSummary(result)}\n\n${formatAuditReport(result.audit)}`);

    expect(new Set(plan.map((p) => p.scenario))).toEqual(new Set(SCENARIOS));
    expect(result.faults.before + result.faults.after + result.faults.delay).toBeGreaterThan(0);
    expect(Object.values(result.kills).reduce((a, b) => a + (b ?? 0), 0)).toBe(kills.filter((k) => k.target !== 'postgres').length);
    expect(result.outcomes.filter((o) => o.divergent || o.rejected)).toEqual([]);
    expect(result.audit.violations).toEqual([]);
    // The load, the burst, and one new checkout per load client sent while Postgres was down.
    expect(result.outcomes).toHaveLength(CHECKOUTS + BURST + 4);
    expect(result.audit.terminal).toBe(result.outcomes.length);
    // Only planned kills: a process that dies on its own under faults (or the outage) is a bug.
    expect(result.unexpectedDeaths).toEqual({});

    // No answer nothing explains, at any time: no 500, no 503 without Retry-After, no hang.
    expect(result.answers.findings).toEqual({ serverErrors: 0, unavailableWithoutRetryAfter: 0, hangs: 0, duplicateConflicts: 0, examples: [] });

    // The outage happened under load; every answer meanwhile was a success or 503 + Retry-After;
    // afterwards every process was ready again by itself.
    expect(result.outages).toHaveLength(1);
    const [outage] = result.outages;
    expect(outage!.answers.retryLater).toBeGreaterThan(0);
    expect(outage!.answers.otherExamples).toEqual([]);
    expect(outage!.notReady).toEqual([]);
    expect(outage!.notRunning).toEqual([]);

    // The burst: at least 50 checkouts waiting at once, every one measured; the refund burst
    // answered each request as it should (201/202, or 404 for an unknown checkout), one refund per key.
    expect(result.peakWaits.burst).toBeGreaterThanOrEqual(BURST);
    expect(result.latency.burst?.checkouts).toBe(BURST);
    expect(result.refundBurst).toMatchObject({ requests: 60, unexpected: [], divergentKeys: 0, unsettled: 0 });
    expect(result.refundBurst!.unknown).toBeGreaterThan(0);
    expect(chaosFindings(result)).toBe(0);
  } finally {
    await chaos.stop();
  }
});
