import { randomBytes } from 'node:crypto';

/**
 * A resource id such as `ch_3f9a…`: a type prefix (so a log line or a support ticket says what
 * the id names) and 96 random bits. Ids need not be derived from the idempotency key: the
 * response carrying them is stored with the key and replayed verbatim.
 */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('hex')}`;
}
