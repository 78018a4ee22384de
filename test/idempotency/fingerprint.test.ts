import { canonicalJson, canonicalPath, IDEMPOTENCY_KEY_PATTERN, requestFingerprint } from '../../src/platform/idempotency/fingerprint';

describe('request fingerprint', () => {
  test('object key order does not matter, at any depth', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: null } })).toBe(
      canonicalJson({ a: { c: null, d: [1, { x: 1, y: 2 }] }, b: 1 }),
    );
    expect(requestFingerprint('POST', '/x', { a: 1, b: 2 })).toBe(requestFingerprint('post', '/x', { b: 2, a: 1 }));
  });

  test('array order, values, method and path do matter', () => {
    const fp = requestFingerprint('POST', '/x', { a: [1, 2] });
    expect(requestFingerprint('POST', '/x', { a: [2, 1] })).not.toBe(fp);
    expect(requestFingerprint('POST', '/x', { a: [1, 2], b: 0 })).not.toBe(fp);
    expect(requestFingerprint('PUT', '/x', { a: [1, 2] })).not.toBe(fp);
    expect(requestFingerprint('POST', '/y', { a: [1, 2] })).not.toBe(fp);
    expect(requestFingerprint('POST', '/x', { a: ['1', 2] })).not.toBe(fp);
  });

  test('keys: 1–255 printable ASCII', () => {
    expect(IDEMPOTENCY_KEY_PATTERN.test('order-123_ABC')).toBe(true);
    expect(IDEMPOTENCY_KEY_PATTERN.test('k'.repeat(255))).toBe(true);
    expect(IDEMPOTENCY_KEY_PATTERN.test('k'.repeat(256))).toBe(false);
    expect(IDEMPOTENCY_KEY_PATTERN.test('')).toBe(false);
    expect(IDEMPOTENCY_KEY_PATTERN.test('clé')).toBe(false);
    expect(IDEMPOTENCY_KEY_PATTERN.test('a\nb')).toBe(false);
  });

  test('never throws or recurses on hostile input: 100,000 levels deep', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = i % 2 ? [deep] : { d: deep };
    expect(() => requestFingerprint('POST', '/x', deep)).not.toThrow();
    expect(canonicalJson([[{ b: [1, undefined], a: 'x' }]])).toBe('[[{"a":"x","b":[1,null]}]]');
    expect(canonicalJson(10n)).toBe('10');
  });

  test('the path counts in its canonical form: percent-decoded, one encoding', () => {
    expect(canonicalPath('/orders/%6Frd_1/cancel')).toBe('/orders/ord_1/cancel');
    expect(canonicalPath('/orders/%6frd_1/%63ancel')).toBe('/orders/ord_1/cancel');
    expect(requestFingerprint('POST', '/orders/%6Frd_1/cancel', null)).toBe(requestFingerprint('POST', '/orders/ord_1/cancel', null));
    // An encoded slash is part of a segment, not a separator; a malformed escape stays as sent.
    expect(canonicalPath('/a%2Fb')).not.toBe(canonicalPath('/a/b'));
    expect(canonicalPath('/a/%zz')).toBe('/a/%zz');
    // Ordinary paths are unchanged, so fingerprints stored before this form still match.
    expect(canonicalPath('/checkouts/chk_0a1/refunds')).toBe('/checkouts/chk_0a1/refunds');
  });
});
