import { ConfigError } from '../../src/platform/config';
import { faultPlanner, parseFaults } from '../../src/platform/faults';
import { mulberry32 } from '../../src/platform/random';

describe('parseFaults', () => {
  test('the docs/api.md#faults example', () => {
    expect(parseFaults('charge:before=0.1,charge:after=0.2,order:delay=3000@0.05')).toEqual([
      { point: 'charge', kind: 'before', probability: 0.1, delayMs: 0 },
      { point: 'charge', kind: 'after', probability: 0.2, delayMs: 0 },
      { point: 'order', kind: 'delay', probability: 0.05, delayMs: 3000 },
    ]);
  });

  test('empty means off; blanks and spaces are tolerated; delay without @P always fires', () => {
    expect(parseFaults('')).toEqual([]);
    expect(parseFaults(' , ')).toEqual([]);
    expect(parseFaults(' notify:delay=500 , charge.refund:after=1 ')).toEqual([
      { point: 'notify', kind: 'delay', probability: 1, delayMs: 500 },
      { point: 'charge.refund', kind: 'after', probability: 1, delayMs: 0 },
    ]);
  });

  test('send:crash is the dispatcher crash point', () => {
    expect(parseFaults('send:crash=1')).toEqual([{ point: 'send', kind: 'crash', probability: 1, delayMs: 0 }]);
    expect(faultPlanner(parseFaults('send:crash=1'), 1)('send')).toEqual({ before: false, after: false, delayMs: 0, crash: true });
  });

  test.each([
    'charge',
    'charge:before',
    'charge:crash=0.1',
    'charge:before=1.5',
    'charge:before=-0.1',
    'charge:before=abc',
    'charge:before=0.1@0.2',
    'charge:delay=0',
    'charge:delay=1.5',
    'charge:delay=100@2',
    'Charge:before=0.1',
    'send:before=0.1',
    'send:crash=2',
  ])('rejects %s', (spec) => {
    expect(() => parseFaults(spec)).toThrow(ConfigError);
  });
});

describe('seeded decisions', () => {
  const rules = parseFaults('charge:before=0.3,charge:after=0.3,charge:delay=100@0.3,order:before=0.5');
  const run = (seed: number) => {
    const plan = faultPlanner(rules, seed);
    return Array.from({ length: 200 }, (_, i) => plan(i % 3 === 0 ? 'order' : 'charge'));
  };

  test('the same seed repeats the same faults; another seed does not', () => {
    expect(run(42)).toEqual(run(42));
    expect(run(42)).not.toEqual(run(43));
  });

  test('rates follow the probabilities', () => {
    const plan = faultPlanner(parseFaults('p:before=0.25'), 7);
    const hits = Array.from({ length: 10_000 }, () => plan('p').before).filter(Boolean).length;
    expect(hits).toBeGreaterThan(2_200);
    expect(hits).toBeLessThan(2_800);
  });

  test('probability 0 never fires, 1 always; other points are untouched', () => {
    const plan = faultPlanner(parseFaults('a:before=0,b:after=1'), 1);
    for (let i = 0; i < 100; i++) {
      expect(plan('a')).toEqual({ before: false, after: false, delayMs: 0, crash: false });
      expect(plan('b')).toEqual({ before: false, after: true, delayMs: 0, crash: false });
      expect(plan('c')).toEqual({ before: false, after: false, delayMs: 0, crash: false });
    }
  });

  test('mulberry32 is in [0, 1) and seed-determined', () => {
    const a = mulberry32(123);
    const b = mulberry32(123);
    for (let i = 0; i < 1000; i++) {
      const x = a();
      expect(x).toBe(b());
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
    }
  });
});
