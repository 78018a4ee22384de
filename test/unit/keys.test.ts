/**
 * Key derivation (src/saga/keys.ts): examples plus properties over many random inputs drawn from a
 * seeded PRNG, so a failure is reproducible from the seed alone.
 */
import {
  checkoutIdFor,
  COMPENSATIONS,
  deriveKey,
  MAX_KEY_LENGTH,
  refundIdFor,
  refundKey,
  SAGA_STEPS,
  stepKey,
  type KeyName,
} from '../../src/saga/keys';
import { mulberry32 } from '../../src/platform/random';

const NAMES: readonly KeyName[] = [...SAGA_STEPS, ...COMPENSATIONS];
const SEED = 0x5eed;
const RUNS = 2_000;

/** Random strings biased towards the awkward: separators, unicode, empty, and up to 255 chars. */
function randomString(rand: () => number, maxLength = 255): string {
  const alphabets = ['abcXYZ019', ':|_-. ', 'éü漢字🙂', '\u0000\t\n'];
  const length = rand() < 0.05 ? 0 : Math.floor(rand() * (maxLength + 1));
  let s = '';
  while ([...s].length < length) {
    const alphabet = [...alphabets[Math.floor(rand() * alphabets.length)]!];
    s += alphabet[Math.floor(rand() * alphabet.length)];
  }
  return s;
}

const printableAscii = (s: string) => /^[\x21-\x7e]+$/.test(s);

describe('examples', () => {
  test('a checkout id is chk_ and 40 hex digits; step keys append the step name', () => {
    const id = checkoutIdFor('merchant_a', 'key-1');
    expect(id).toMatch(/^chk_[0-9a-f]{40}$/);
    expect(stepKey(id, 'charge.refund')).toBe(`${id}:charge.refund`);
    expect(deriveKey('merchant_a', 'key-1', 'order')).toBe(`${id}:order`);
  });

  test('framing: moving a separator between merchant and key changes the id', () => {
    expect(checkoutIdFor('a:b', 'c')).not.toBe(checkoutIdFor('a', 'b:c'));
    expect(checkoutIdFor('ab', 'c')).not.toBe(checkoutIdFor('a', 'bc'));
  });

  test('refund ids and keys', () => {
    const checkoutId = checkoutIdFor('m', 'k');
    const refundId = refundIdFor(checkoutId, 'r-1');
    expect(refundId).toMatch(/^rfd_[0-9a-f]{40}$/);
    expect(refundKey(refundId)).toBe(`${refundId}:refund`);
  });
});

describe(`properties over ${RUNS} random inputs (seed ${SEED})`, () => {
  const rand = mulberry32(SEED);
  const inputs = Array.from({ length: RUNS }, () => ({ merchant: randomString(rand, 64), key: randomString(rand) }));

  test('deterministic: the same inputs give the same keys', () => {
    const unstable = inputs.filter(
      ({ merchant, key }) =>
        NAMES.some((name) => deriveKey(merchant, key, name) !== deriveKey(merchant, key, name)) ||
        refundIdFor(checkoutIdFor(merchant, key), key) !== refundIdFor(checkoutIdFor(merchant, key), key),
    );
    expect(unstable).toEqual([]);
  });

  test('bounded and printable: every key is printable ASCII of at most 255 characters', () => {
    const bad = inputs.flatMap(({ merchant, key }) => {
      const checkoutId = checkoutIdFor(merchant, key);
      const all = [...NAMES.map((n) => stepKey(checkoutId, n)), refundKey(refundIdFor(checkoutId, key))];
      return all.filter((k) => k.length > MAX_KEY_LENGTH || !printableAscii(k));
    });
    expect(bad).toEqual([]);
  });

  test('distinct across merchants, client keys, steps, compensations and refunds', () => {
    const seen = new Map<string, string>();
    const collisions: [string, string][] = [];
    const distinctInputs = new Map(inputs.map((i) => [JSON.stringify([i.merchant, i.key]), i]));
    for (const { merchant, key } of distinctInputs.values()) {
      const checkoutId = checkoutIdFor(merchant, key);
      const derived: [string, string][] = [
        ...NAMES.map((n): [string, string] => [stepKey(checkoutId, n), `${n}`]),
        [refundKey(refundIdFor(checkoutId, key)), 'refund'],
        [checkoutId, 'checkout'],
      ];
      for (const [k, what] of derived) {
        const origin = JSON.stringify([merchant, key, what]);
        const previous = seen.get(k);
        if (previous !== undefined && previous !== origin) collisions.push([previous, origin]);
        seen.set(k, origin);
      }
    }
    expect(collisions).toEqual([]);
    expect(seen.size).toBe(distinctInputs.size * (NAMES.length + 2));
  });

  test('the same client key from two merchants is two checkouts', () => {
    for (const { merchant, key } of inputs.slice(0, 200)) {
      expect(checkoutIdFor(merchant, key)).not.toBe(checkoutIdFor(`${merchant}x`, key));
    }
  });

  test('refunds of one checkout are distinct per refund key, and distinct across checkouts', () => {
    const checkoutA = checkoutIdFor('m', 'a');
    const checkoutB = checkoutIdFor('m', 'b');
    const ids = new Set<string>();
    for (const { key } of inputs) {
      ids.add(refundIdFor(checkoutA, key));
      ids.add(refundIdFor(checkoutB, key));
    }
    expect(ids.size).toBe(2 * new Set(inputs.map((i) => i.key)).size);
  });
});
