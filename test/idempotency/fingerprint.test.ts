import { canonicalJson, IDEMPOTENCY_KEY_PATTERN, requestFingerprint } from '../../src/platform/idempotency/fingerprint';

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
});
