/**
 * The audit can fail: with the payment service's idempotency switched off (a test build of it,
 * test/fixtures/no-idempotency/, that registers a deliberately broken plugin) and half of its
 * charge replies lost (`charge:after`), every retry of a lost reply charges again, and the audit
 * must report those duplicate charges.
 *
 * The charges table's UNIQUE (tenant, idempotency_key) is dropped first: it is the schema's last
 * line of defence and would otherwise turn each duplicate into a 500, so that the checkout
 * never finishes — which the audit would report too, but as "stuck", not as the duplicate this
 * test is about.
 */
import { createPool } from '../../src/platform/db/pool';
import { formatAuditReport } from '../../tools/audit/report';
import { planCheckouts } from '../../tools/chaos/plan';
import { runChaos } from '../../tools/chaos/run';
import { startChaosStack } from '../../tools/chaos/stack';

jest.setTimeout(180_000);

const SEED = 6;

test('without idempotency, lost replies become duplicate charges and the audit reports them', async () => {
  const chaos = await startChaosStack({
    faults: { payment: 'charge:after=0.5' },
    seed: SEED,
    entryFor: { payment: 'test/fixtures/no-idempotency/payment-main.ts' },
  });
  try {
    const payments = createPool(chaos.config.databaseUrls.payment, 1);
    try {
      await payments.query('ALTER TABLE charges DROP CONSTRAINT charges_tenant_idempotency_key_key');
    } finally {
      await payments.end();
    }
    const plan = planCheckouts({
      checkouts: 12,
      seed: SEED,
      mix: { ok: 1, declined: 0, 'insufficient-funds': 0, 'out-of-stock': 0, bounce: 0 },
      duplicateRate: 0,
      refundRate: 0,
    });
    const result = await runChaos(chaos, plan, [], { concurrency: 4, settleTimeoutMs: 60_000, seed: SEED });
    process.stderr.write(`${formatAuditReport(result.audit)}\n`);

    const oneCharge = result.audit.invariants.find((i) => i.id === 'one-charge')!;
    expect(result.audit.ok).toBe(false);
    expect(oneCharge.violations).toBeGreaterThan(0);
    expect(result.audit.violations.find((v) => v.invariant === 'one-charge')!.message).toMatch(/^[2-9]\d* charges \(ch_/);
    // What duplicate charges explain (a second charge, so not "one captured charge"), and
    // nothing else: every checkout finished, every effect belongs to one.
    expect(result.audit.invariants.find((i) => i.id === 'completed')!.violations).toBeGreaterThan(0);
    expect(result.audit.violations.filter((v) => v.invariant === 'not-stuck' || v.invariant === 'no-orphans')).toEqual([]);
  } finally {
    await chaos.stop();
  }
});
