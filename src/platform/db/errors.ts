/**
 * Which database failures mean "not now" rather than "never": the database is down or
 * restarting, the pool had no connection to give within its acquire timeout, or Postgres asked
 * the client to try again. Every HTTP surface answers these with 503 + Retry-After (see
 * `toProblem` in src/platform/http/problem.ts), never 500 and never a hang.
 */

/**
 * SQLSTATE classes and codes: 08 connection exception, 53 insufficient resources (too many
 * connections), 57P01-57P03 shutdown / cannot connect now, 57014 statement timeout, 55P03 lock
 * timeout, 40001 serialization failure, 40P01 deadlock victim.
 */
const RETRYABLE_SQLSTATE = /^(08...|53...|57P0[1-3]|57014|55P03|40001|40P01)$/;

/** Socket errors on the way to the server. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/**
 * node-postgres reports its own connection failures by message only: the pool's acquire timeout
 * ("timeout exceeded when trying to connect"), a connect timeout or a server gone mid-query
 * ("Connection terminated ..."), and a client whose connection already failed ("... not queryable").
 */
const CLIENT_MESSAGES = /timeout exceeded when trying to connect|Connection terminated|not queryable|Cannot use a pool after calling end/i;

export function isDatabaseUnavailable(err: unknown): boolean {
  // Duck-typed, not `instanceof Error`: errors from another realm (a VM context, jest) are errors too.
  if (typeof err !== 'object' || err === null) return false;
  const { code, message, errors } = err as { code?: unknown; message?: unknown; errors?: unknown };
  if (typeof code === 'string' && (RETRYABLE_SQLSTATE.test(code) || NETWORK_CODES.has(code))) return true;
  // A host name with several addresses fails with one error per address (an AggregateError).
  if (Array.isArray(errors) && errors.some(isDatabaseUnavailable)) return true;
  return typeof message === 'string' && CLIENT_MESSAGES.test(message);
}

/**
 * SQLSTATE class 22, "data exception": Postgres refused a value (a NUL in text or jsonb, an
 * out-of-range number, a malformed literal). A value reaching the database comes from the
 * request, so this is the client's input, answered 400 and never 500: a caller that retries
 * every 500 (the saga does) would send the same refused value forever.
 */
export function isRejectedValue(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^22[0-9A-Z]{3}$/.test(code);
}
