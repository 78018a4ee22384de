/**
 * The Fastify instance every HTTP process starts from (services, checkout API, test fixtures):
 * strict validation, small bodies, problem+json errors.
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { logRequests, loggerOptions, type LoggingOptions } from './logging';
import { refuseJson } from './json-body';
import { Problem, problemErrorHandler, sendProblem } from './problem';

/** Checkout and service payloads are small; anything bigger is a mistake or an attack. */
export const DEFAULT_BODY_LIMIT = 64 * 1024;

/**
 * Fastify's ajv, made strict: its default silently strips unknown properties; for money we reject
 * them instead, and never coerce "12.5" into an amount. Exported so the contract test validates
 * with exactly these options.
 */
export const AJV_OPTIONS = { removeAdditional: false, coerceTypes: false, allErrors: true } as const;

/**
 * True when a string (or a property name) anywhere in a parsed JSON body holds U+0000, which
 * Postgres text and jsonb cannot store. Iterative, so a deeply nested body cannot overflow the stack.
 */
export function containsNul(body: unknown): boolean {
  const pending: unknown[] = [body];
  while (pending.length) {
    const value = pending.pop();
    if (typeof value === 'string') {
      if (value.includes('\u0000')) return true;
    } else if (value !== null && typeof value === 'object') {
      for (const [name, member] of Object.entries(value)) {
        if (name.includes('\u0000')) return true;
        pending.push(member);
      }
    }
  }
  return false;
}

export interface BaseAppOptions extends FastifyServerOptions {
  /** The project's logging (src/platform/http/logging.ts); without it, Fastify's `logger` option applies. */
  log?: LoggingOptions;
}

export function createBaseApp({ log, ...options }: BaseAppOptions = {}): FastifyInstance {
  const app = Fastify({
    bodyLimit: DEFAULT_BODY_LIMIT,
    ...options,
    ...(log ? loggerOptions(log) : {}),
    ajv: { customOptions: AJV_OPTIONS },
  });
  drainOnClose(app);
  if (log) logRequests(app);
  guardJsonBodies(app);
  app.setErrorHandler(problemErrorHandler);
  // Before any schema, claim or handler: a NUL would otherwise reach the database as a 500.
  app.addHook('preValidation', async (request) => {
    if (containsNul(request.body)) throw new Problem('validation-error', 'Text may not contain the NUL character (U+0000)');
  });
  app.setNotFoundHandler((request, reply) => {
    sendProblem(reply, new Problem('not-found', `No route ${request.method} ${request.url.split('?')[0]}`), request.url);
  });
  return app;
}

/** Every JSON body passes `refuseJson` (depth, NUL, exact numbers) before it is parsed: 400 otherwise. */
function guardJsonBodies(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = String(body);
    const reason = refuseJson(text);
    if (reason) return done(new Problem('validation-error', reason), undefined);
    return parse(request, text, done);
  });
}

/**
 * `app.close()` lets requests in flight finish, but a kept-alive connection whose request ends
 * after the close began would keep the server (and the shutdown) open until the client drops
 * it. Once closing, every answer says `Connection: close`, and a connection that went idle is
 * closed right after its last response.
 */
function drainOnClose(app: FastifyInstance): void {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    if (closing) reply.header('connection', 'close');
    return payload;
  });
  app.addHook('onResponse', async () => {
    if (closing) setImmediate(() => app.server.closeIdleConnections());
  });
}
