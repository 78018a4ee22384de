/**
 * RFC 9457 problem details: the one error shape of every HTTP surface in the system.
 *
 * Each failure kind has a stable `type` URI, so clients (and our own activities) branch on
 * `type`, never on message text. Throw `new Problem(kind, detail)` from any handler; the shared
 * error handler renders it as `application/problem+json`.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isDatabaseUnavailable, isRejectedValue } from '../db/errors';

export const PROBLEM_TYPE_BASE = 'https://checkout-saga.dev/problems/';

/** Every failure kind the system reports, with its HTTP status and human title. */
export const PROBLEM_KINDS = {
  'validation-error': { status: 400, title: 'The request is not valid' },
  'idempotency-key-missing': { status: 400, title: 'An Idempotency-Key header is required' },
  'idempotency-key-invalid': { status: 400, title: 'The Idempotency-Key header is malformed' },
  unauthorized: { status: 401, title: 'Missing or unknown credentials' },
  'card-declined': { status: 402, title: 'The card was declined' },
  'insufficient-funds': { status: 402, title: 'The card has insufficient funds' },
  'not-found': { status: 404, title: 'No such resource' },
  'idempotency-key-in-use': { status: 409, title: 'A request with this Idempotency-Key is still in progress' },
  'out-of-stock': { status: 409, title: 'Not enough stock for an item' },
  'invalid-state': { status: 409, title: 'The resource is not in a state that allows this' },
  'refund-exceeds-charge': { status: 409, title: 'The refund would exceed the amount charged' },
  'idempotency-key-fenced': { status: 410, title: 'This Idempotency-Key was closed by a lookup before any request ran under it' },
  'payload-too-large': { status: 413, title: 'The request body is too large' },
  'unsupported-media-type': { status: 415, title: 'The request body must be application/json' },
  'idempotency-key-reused': { status: 422, title: 'This Idempotency-Key was used with a different request' },
  'injected-fault': { status: 503, title: 'Injected fault (fault injection is enabled)' },
  unavailable: { status: 503, title: 'A dependency is unavailable; retry later' },
  internal: { status: 500, title: 'Internal error' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ProblemKind = keyof typeof PROBLEM_KINDS;

/**
 * Every 503 tells the client when to come back (RFC 9110 §10.2.3), unless the thrower knows
 * better: a dependency that is down or a pool that is exhausted is usually back within seconds.
 */
export const DEFAULT_RETRY_AFTER_SECONDS = 1;

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  [extension: string]: unknown;
}

export class Problem extends Error {
  override name = 'Problem';
  readonly status: number;

  constructor(
    readonly kind: ProblemKind,
    readonly detail?: string,
    /** Extension members (RFC 9457 §3.2), e.g. `errors` for validation details. */
    readonly extensions: Record<string, unknown> = {},
    /** Extra response headers, e.g. Retry-After. */
    readonly headers: Record<string, string> = {},
  ) {
    super(detail ?? PROBLEM_KINDS[kind].title);
    this.status = PROBLEM_KINDS[kind].status;
    if (this.status === 503 && !Object.keys(headers).some((h) => h.toLowerCase() === 'retry-after')) {
      this.headers = { ...headers, 'Retry-After': String(DEFAULT_RETRY_AFTER_SECONDS) };
    }
  }

  toJSON(instance?: string): ProblemBody {
    return {
      type: problemType(this.kind),
      title: PROBLEM_KINDS[this.kind].title,
      status: this.status,
      ...(this.detail ? { detail: this.detail } : {}),
      ...(instance ? { instance } : {}),
      ...this.extensions,
    };
  }
}

export function problemType(kind: ProblemKind): string {
  return PROBLEM_TYPE_BASE + kind;
}

/** The kind named by a problem body's `type`, if it is one of ours. */
export function problemKindOf(body: unknown): ProblemKind | undefined {
  const type = (body as { type?: unknown } | null)?.type;
  if (typeof type !== 'string' || !type.startsWith(PROBLEM_TYPE_BASE)) return undefined;
  const kind = type.slice(PROBLEM_TYPE_BASE.length);
  return kind in PROBLEM_KINDS ? (kind as ProblemKind) : undefined;
}

export function sendProblem(reply: FastifyReply, problem: Problem, instance?: string): FastifyReply {
  for (const [name, value] of Object.entries(problem.headers)) reply.header(name, value);
  return reply.code(problem.status).type('application/problem+json').send(problem.toJSON(instance));
}

/** Maps Fastify's own errors (schema validation, body limits, bad JSON) onto problem kinds. */
export function toProblem(error: FastifyError | Error): Problem {
  if (error instanceof Problem) return error;
  // On every route alike: a database that is down, or a pool with no connection to spare, is
  // "retry later", never an internal error.
  if (isDatabaseUnavailable(error)) return new Problem('unavailable', 'The database is unavailable; retry later');
  if (isRejectedValue(error)) return new Problem('validation-error', 'A value in the request cannot be stored');
  const fe = error as FastifyError;
  if (fe.validation) {
    return new Problem('validation-error', error.message, {
      errors: fe.validation.map((v) => ({ path: v.instancePath || '/', message: v.message })),
    });
  }
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new Problem('payload-too-large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new Problem('unsupported-media-type');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new Problem('validation-error', 'The body is not valid JSON');
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new Problem('validation-error', error.message);
  }
  return new Problem('internal');
}

export function problemErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const problem = toProblem(error);
  if (problem.status >= 500 && !(error instanceof Problem)) {
    // A database that is down, restarting or out of connections is expected now and then and
    // answered 503 + Retry-After: a warning naming the cause, not an error with a stack for each
    // request of an outage (an "unhandled error" is what pages someone).
    if (problem.kind === 'unavailable') {
      request.log.warn({ code: (error as { code?: unknown }).code, cause: error.message }, 'database unavailable: answered 503');
    } else {
      request.log.error({ err: error }, 'unhandled error');
    }
  }
  sendProblem(reply, problem, request.url);
}
