/** The pure part of a chaos run: load, faults, kill plan, refund burst, statistics, judging answers, summary layout. */
import { parseFaults } from '../../src/platform/faults';
import {
  countFaults,
  faultSpecs,
  FAULT_POINTS,
  medianAndMax,
  percentile,
  planCheckouts,
  planKills,
  planRefundBurst,
  SCENARIOS,
} from '../../tools/chaos/plan';
import { answerFindings, outageAnswers, type ApiAnswer } from '../../tools/chaos/run';
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

  test('a key prefix gives a second plan of the same run keys of its own', () => {
    const burst = planCheckouts({ checkouts: 400, seed: 3, keyPrefix: 'chaos-3-burst' });
    expect(burst[7]!.idempotencyKey).toBe('chaos-3-burst-7');
    expect(plan[7]!.idempotencyKey).toBe('chaos-3-7');
    expect(burst.map((p) => p.body)).toEqual(plan.map((p) => p.body));
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

  test('a Postgres outage, when asked, at 70 % of the run and for as long as asked', () => {
    const kills = planKills({ checkouts: 1000, seed: 9, kills: 10, targets, restartTemporal: true, postgresOutageMs: 5000 });
    expect(kills).toHaveLength(12);
    expect(kills.filter((k) => k.target === 'postgres')).toEqual([{ afterCheckouts: 700, target: 'postgres', downMs: 5000 }]);
    expect(planKills({ checkouts: 1000, seed: 9, kills: 10, targets, restartTemporal: true, postgresOutageMs: 0 }).some((k) => k.target === 'postgres')).toBe(false);
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

describe('planRefundBurst', () => {
  const ids = ['chk_a', 'chk_b', 'chk_c'];

  test('copies of each key on known checkouts, the rest for well-formed ids that do not exist, shuffled', () => {
    const burst = planRefundBurst({ seed: 1, checkoutIds: ids, requests: 100 });
    expect(burst).toHaveLength(100);
    const unknown = burst.filter((r) => !r.known);
    expect(unknown).toHaveLength(30);
    for (const r of unknown) expect(r.checkoutId).toMatch(/^chk_[0-9a-f]{40}$/);
    expect(new Set(unknown.map((r) => r.key)).size).toBe(30);
    const known = burst.filter((r) => r.known);
    expect(known.every((r) => ids.includes(r.checkoutId) && r.amount === 1)).toBe(true);
    const copies = new Map<string, number>();
    for (const r of known) copies.set(r.key, (copies.get(r.key) ?? 0) + 1);
    expect(copies.size).toBe(24); // 70 requests: 23 keys × 3 and one single
    expect([...copies.values()].filter((n) => n === 3)).toHaveLength(23);
    // One key, one checkout.
    for (const key of copies.keys()) expect(new Set(known.filter((r) => r.key === key).map((r) => r.checkoutId)).size).toBe(1);
    // Shuffled: the copies of a key do not all leave one after the other.
    expect(burst.slice(0, 3).every((r) => r.key === burst[0]!.key)).toBe(false);
    expect(planRefundBurst({ seed: 1, checkoutIds: ids, requests: 100 })).toEqual(burst);
  });

  test('no completed checkout: every request is for an unknown one', () => {
    const burst = planRefundBurst({ seed: 2, checkoutIds: [], requests: 10 });
    expect(burst.every((r) => !r.known)).toBe(true);
    expect(burst).toHaveLength(10);
  });
});

test('percentile (nearest rank)', () => {
  expect(percentile([], 50)).toBe(0);
  const values = Array.from({ length: 100 }, (_, i) => 100 - i); // 1..100, unsorted
  expect(percentile(values, 50)).toBe(50);
  expect(percentile(values, 95)).toBe(95);
  expect(percentile(values, 100)).toBe(100);
  expect(percentile([7], 95)).toBe(7);
  expect(percentile([1, 2, 3], 50)).toBe(2);
});

describe('judging the API\'s answers', () => {
  const answer = (status: ApiAnswer['status'], extra: Partial<ApiAnswer> = {}): ApiAnswer => ({ route: 'POST /checkouts', at: 1_000, ms: 10, status, retryAfter: null, ...extra });

  test('a 500, a 503 without Retry-After, a hang and a 409 for a duplicate are findings; the rest are not', () => {
    const findings = answerFindings([
      answer(201),
      answer(202),
      answer(404),
      answer(422, { problem: 'idempotency-key-reused' }),
      answer(409, { problem: 'invalid-state' }),
      answer(503, { retryAfter: '1' }),
      answer('connection error'),
      answer(500, { problem: 'internal' }),
      answer(503),
      answer('no answer in time'),
      answer(409, { problem: 'idempotency-key-in-use', retryAfter: '2' }),
    ]);
    expect(findings).toMatchObject({ serverErrors: 1, unavailableWithoutRetryAfter: 1, hangs: 1, duplicateConflicts: 1 });
    expect(findings.examples).toHaveLength(4);
    expect(findings.examples[0]).toMatch(/^POST \/checkouts → 500 internal after 10 ms/);
  });

  test('during an outage: every request in flight at any moment of it, success or 503 + Retry-After', () => {
    const times = { stopping: 1_000, down: 1_500, starting: 4_500, up: 6_000 };
    const report = outageAnswers(
      [
        answer(201, { at: 0, ms: 900 }), // done before: not counted
        answer(201, { at: 500, ms: 800 }), // in flight at the stop
        answer(503, { at: 2_000, retryAfter: '1' }),
        answer(503, { at: 3_000 }), // no Retry-After
        answer(404, { at: 3_500 }), // a 404 while the database is down cannot be true
        answer('no answer in time', { at: 4_000, ms: 30_000 }),
        answer(202, { at: 5_900, ms: 500 }),
        answer(503, { at: 6_100, retryAfter: '1' }), // after: not counted
      ],
      times,
    );
    expect(report).toMatchObject({ total: 6, success: 2, retryLater: 1, other: 3 });
    expect(report.otherExamples).toHaveLength(3);
  });
});
