/** The pure part of a chaos run: load, faults, kill plan, statistics, summary layout. */
import { parseFaults } from '../../src/platform/faults';
import { countFaults, faultSpecs, FAULT_POINTS, medianAndMax, planCheckouts, planKills, SCENARIOS } from '../../tools/chaos/plan';
import { formatTable } from '../../tools/support/table';

describe('planCheckouts', () => {
  const plan = planCheckouts({ checkouts: 400, seed: 3 });

  test('is a function of the seed', () => {
    expect(planCheckouts({ checkouts: 400, seed: 3 })).toEqual(plan);
    expect(planCheckouts({ checkouts: 400, seed: 4 })).not.toEqual(plan);
  });

  test('mixes every test trigger (docs/api.md#test-triggers), each with its input', () => {
    for (const s of SCENARIOS) expect(plan.filter((p) => p.scenario === s).length).toBeGreaterThan(20);
    for (const p of plan) {
      expect(p.body.paymentMethod).toBe(
        p.scenario === 'declined' ? 'tok_chargeDeclined' : p.scenario === 'insufficient-funds' ? 'tok_insufficientFunds' : 'tok_visa',
      );
      expect(p.body.items.some((i) => i.sku === 'OUT-OF-STOCK')).toBe(p.scenario === 'out-of-stock');
      expect(p.body.email.endsWith('@bounce.test')).toBe(p.scenario === 'bounce');
      expect(p.refund && p.scenario !== 'ok').toBe(false);
    }
  });

  test('unique keys; about 30 % submitted more than once, sequentially and concurrently', () => {
    expect(new Set(plan.map((p) => p.idempotencyKey)).size).toBe(400);
    const sequential = plan.filter((p) => p.submission.kind === 'sequential').length;
    const concurrent = plan.filter((p) => p.submission.kind === 'concurrent').length;
    expect(sequential).toBeGreaterThan(30);
    expect(concurrent).toBeGreaterThan(30);
    expect(sequential + concurrent).toBeLessThan(160);
  });

  test('a custom mix and no duplicates', () => {
    const only = planCheckouts({ checkouts: 50, seed: 1, mix: { ok: 1, declined: 0, 'insufficient-funds': 0, 'out-of-stock': 0, bounce: 0 }, duplicateRate: 0 });
    expect(only.every((p) => p.scenario === 'ok' && p.submission.kind === 'once')).toBe(true);
  });
});

describe('faultSpecs', () => {
  test('every point of every service gets before/after/delay adding up to the rate, in valid FAULTS syntax', () => {
    const specs = faultSpecs(0.2, 3500);
    for (const [service, points] of Object.entries(FAULT_POINTS)) {
      const rules = parseFaults(specs[service as keyof typeof specs]);
      expect(new Set(rules.map((r) => r.point))).toEqual(new Set(points));
      for (const point of points) {
        const mine = rules.filter((r) => r.point === point);
        expect(mine.map((r) => r.kind).sort()).toEqual(['after', 'before', 'delay']);
        expect(mine.reduce((s, r) => s + r.probability, 0)).toBeCloseTo(0.2);
        expect(mine.find((r) => r.kind === 'delay')!.delayMs).toBe(3500);
      }
    }
  });

  test('rate 0 turns faults off; a rate outside [0, 1] is refused', () => {
    expect(faultSpecs(0, 1000)).toEqual({ payment: '', order: '', notification: '' });
    expect(() => faultSpecs(1.5, 1000)).toThrow(RangeError);
  });
});

describe('planKills', () => {
  const targets = ['worker', 'payment', 'order', 'notification', 'api', 'mailbox'] as const;

  test('hits every target at least once, inside the run, sorted, with one Temporal restart half-way', () => {
    const kills = planKills({ checkouts: 1000, seed: 9, kills: 10, targets, restartTemporal: true });
    expect(kills).toHaveLength(11);
    for (const t of targets) expect(kills.some((k) => k.target === t)).toBe(true);
    expect(kills.filter((k) => k.target === 'temporal')).toEqual([{ afterCheckouts: 500, target: 'temporal', downMs: 1000 }]);
    expect(kills.map((k) => k.afterCheckouts)).toEqual([...kills.map((k) => k.afterCheckouts)].sort((a, b) => a - b));
    for (const k of kills) {
      expect(k.afterCheckouts).toBeGreaterThanOrEqual(50);
      expect(k.afterCheckouts).toBeLessThan(900);
      expect(k.downMs).toBeLessThan(2000);
    }
  });

  test('none asked, none planned', () => {
    expect(planKills({ checkouts: 10, seed: 1, kills: 0, targets, restartTemporal: false })).toEqual([]);
  });
});

test('medianAndMax', () => {
  expect(medianAndMax([])).toEqual({ median: 0, max: 0 });
  expect(medianAndMax([5, 1, 3])).toEqual({ median: 3, max: 5 });
  expect(medianAndMax([4, 1, 3, 2])).toEqual({ median: 2.5, max: 4 });
});

test('countFaults reads the services’ "injected fault" log lines', () => {
  const lines = [
    '{"level":40,"fault":"charge:after","injected":{"charge:after":1},"msg":"injected fault"}',
    '{"level":40,"fault":"charge.refund:before","msg":"injected fault"}',
    '{"level":40,"fault":"notify:delay","msg":"injected fault"}',
    '{"level":40,"fault":"notify:delay","msg":"injected fault"}',
    '{"level":30,"msg":"faults injected in this run","injected":{"notify:delay":2}}',
    'not json at all',
  ];
  expect(countFaults(lines)).toEqual({ before: 1, after: 1, delay: 2 });
});

test('formatTable aligns text left and numbers right', () => {
  expect(formatTable(['name', 'n'], [['a', 1], ['bbb', 22]])).toBe(['name   n', '----  --', 'a      1', 'bbb   22'].join('\n'));
});
