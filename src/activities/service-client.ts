/**
 * The one HTTP client activities use to reach the payment, order and notification services.
 *
 * Every call carries `Authorization: Bearer <service token>`, `X-Tenant-Id: <merchant>` and,
 * on mutating calls, the saga step's `Idempotency-Key`. Each call is bounded by
 * `httpTimeoutMs`, kept below the activity's start-to-close timeout so a hung service surfaces
 * as a retryable error of this attempt rather than an activity timeout.
 *
 * Answers become Temporal failures here, in one place:
 * - 2xx → the parsed body;
 * - a definitive business answer (problem kinds in `NON_RETRYABLE_KINDS`, other 4xx) →
 *   `ApplicationFailure` non-retryable, `type` = the problem kind;
 * - 409 idempotency-key-in-use, 401/403, 408, 425, 429, 5xx, timeouts, connection errors →
 *   retryable `ApplicationFailure`, honouring `Retry-After` as the next retry delay.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Config, ServiceName } from '../platform/config';
import { problemKindOf } from '../platform/http/problem';
import { NON_RETRYABLE_KINDS } from '../saga/failures';

export interface ServiceRequest {
  method: 'GET' | 'POST';
  path: string;
  /** The merchant the call is made for (`X-Tenant-Id`). */
  tenantId: string;
  idempotencyKey?: string;
  body?: unknown;
  /** Aborts the call, e.g. the activity's cancellation signal. */
  signal?: AbortSignal;
}

export interface ServiceClient {
  call<T>(service: ServiceName, request: ServiceRequest): Promise<T>;
}

export interface ServiceClientOptions {
  baseUrls: Record<ServiceName, string>;
  serviceToken: string;
  timeoutMs: number;
  fetch?: typeof fetch;
}

export function serviceClientOptions(config: Config): ServiceClientOptions {
  return { baseUrls: config.serviceUrls, serviceToken: config.serviceToken, timeoutMs: config.httpTimeoutMs };
}

const RETRYABLE_STATUSES = new Set([401, 403, 408, 425, 429]);
const MAX_RETRY_AFTER_MS = 30_000;

/** `Retry-After` in seconds (or an HTTP date) → milliseconds, capped; undefined when absent or bad. */
export function parseRetryAfter(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - now;
  return Number.isFinite(ms) && ms >= 0 ? Math.min(ms, MAX_RETRY_AFTER_MS) : undefined;
}

/** The failure an unsuccessful HTTP answer stands for. Pure; exported for tests. */
export function failureForResponse(
  service: ServiceName,
  status: number,
  body: unknown,
  retryAfterMs?: number,
): ApplicationFailure {
  const kind = problemKindOf(body);
  const detail = (body as { detail?: unknown } | null)?.detail;
  const message = `${service} answered ${status}${typeof detail === 'string' ? `: ${detail}` : kind ? `: ${kind}` : ''}`;
  const type = kind ?? `http-${status}`;
  const definitive =
    (kind !== undefined && (NON_RETRYABLE_KINDS as readonly string[]).includes(kind)) ||
    (kind === undefined && status >= 400 && status < 500 && !RETRYABLE_STATUSES.has(status));
  if (definitive) return ApplicationFailure.create({ message, type, nonRetryable: true, details: [body] });
  return ApplicationFailure.create({ message, type, nonRetryable: false, nextRetryDelay: retryAfterMs });
}

/** A transport failure (timeout, refused, reset) as a retryable failure; cancellation passes through. */
function failureForTransportError(service: ServiceName, err: unknown, callerSignal?: AbortSignal): unknown {
  if (callerSignal?.aborted) return err;
  const e = err as Error & { cause?: { code?: string } };
  if (e?.name === 'TimeoutError') {
    return ApplicationFailure.retryable(`${service} did not answer in time`, 'timeout');
  }
  const code = e?.cause?.code ?? e?.name ?? 'Error';
  return ApplicationFailure.retryable(`${service} unreachable: ${code} ${e?.message ?? ''}`.trim(), 'connection-error');
}

export function createServiceClient(options: ServiceClientOptions): ServiceClient {
  const doFetch = options.fetch ?? fetch;
  return {
    async call<T>(service: ServiceName, req: ServiceRequest): Promise<T> {
      const headers: Record<string, string> = {
        accept: 'application/json, application/problem+json',
        authorization: `Bearer ${options.serviceToken}`,
        'x-tenant-id': req.tenantId,
      };
      if (req.idempotencyKey) headers['idempotency-key'] = req.idempotencyKey;
      if (req.body !== undefined) headers['content-type'] = 'application/json';
      const timeout = AbortSignal.timeout(options.timeoutMs);
      const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;

      let response: Response;
      let text: string;
      try {
        response = await doFetch(`${options.baseUrls[service]}${req.path}`, {
          method: req.method,
          headers,
          body: req.body === undefined ? undefined : JSON.stringify(req.body),
          signal,
        });
        text = await response.text();
      } catch (err) {
        throw failureForTransportError(service, err, req.signal);
      }

      let body: unknown = undefined;
      if (text) {
        try {
          body = JSON.parse(text);
        } catch {
          body = text;
        }
      }
      if (response.ok) return body as T;
      throw failureForResponse(service, response.status, body, parseRetryAfter(response.headers.get('retry-after')));
    },
  };
}
