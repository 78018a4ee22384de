/**
 * Request fingerprints: what makes a retry "the same request".
 *
 * The body is canonicalised (object keys sorted at every depth) before hashing, so a client
 * that re-serialises its JSON with keys in another order is not mistaken for a different
 * request: a false 422 on a legitimate retry is as harmful as a missed mismatch. The path is
 * canonical too: `/orders/%6Frd_1/cancel` reaches the same route with the same id as
 * `/orders/ord_1/cancel`, so it is the same request. Numbers are compared as parsed: bodies whose
 * numbers a double cannot hold exactly never get here (src/platform/http/json-body.ts).
 *
 * Nothing here throws or recurses, whatever the input: a fingerprint is computed for every
 * idempotent request before anything else can refuse it.
 */
import { createHash } from 'node:crypto';

/** Text emitted as is, between the values the walk renders. */
class Literal {
  constructor(readonly text: string) {}
}

function scalar(value: unknown): string {
  if (typeof value === 'bigint') return value.toString();
  return JSON.stringify(value) ?? 'null';
}

/** JSON with object keys sorted, rendered by an explicit stack (no recursion, any depth). */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  const work: unknown[] = [value];
  while (work.length > 0) {
    const item = work.pop();
    if (item instanceof Literal) {
      out.push(item.text);
    } else if (item === null || typeof item !== 'object') {
      out.push(scalar(item));
    } else {
      // Pushed in reverse, so that they pop in order.
      const parts: unknown[] = [];
      if (Array.isArray(item)) {
        parts.push(new Literal('['));
        item.forEach((v, i) => parts.push(...(i > 0 ? [new Literal(',')] : []), v));
        parts.push(new Literal(']'));
      } else {
        const entries = Object.entries(item as Record<string, unknown>)
          .filter(([, v]) => v !== undefined)
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        parts.push(new Literal('{'));
        entries.forEach(([k, v], i) => parts.push(new Literal(`${i > 0 ? ',' : ''}${JSON.stringify(k)}:`), v));
        parts.push(new Literal('}'));
      }
      for (let i = parts.length - 1; i >= 0; i--) work.push(parts[i]);
    }
  }
  return out.join('');
}

/** Each segment percent-decoded and re-encoded one way; a segment that is not valid UTF-8 escapes stays as sent. */
export function canonicalPath(path: string): string {
  return path
    .split('/')
    .map((segment) => {
      try {
        return encodeURIComponent(decodeURIComponent(segment));
      } catch {
        return segment;
      }
    })
    .join('/');
}

export function requestFingerprint(method: string, path: string, body: unknown): string {
  return createHash('sha256')
    .update(`${method.toUpperCase()} ${canonicalPath(path)}\n${canonicalJson(body ?? null)}`)
    .digest('hex');
}

/** docs/api.md#idempotency: 1–255 printable ASCII characters. */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x20-\x7e]{1,255}$/;
