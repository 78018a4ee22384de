/**
 * Prometheus metrics for any of our Fastify apps: request counts and latency by route and
 * status, whether the answer was an idempotent replay, and `GET /metrics` to scrape them. The
 * business series are defined beside what counts them and registered on `app.metrics`:
 * idempotency outcomes (below, counted by the plugin and by the checkout API's own record),
 * checkouts (src/services/checkout-api/metrics.ts), the outbox (src/services/notification/outbox-metrics.ts).
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * What an idempotent request's key decided (`idempotency_requests_total{outcome}`), once per
 * request that reached the decision: `new` (first use: the handler runs), `replayed` (the stored
 * answer), `mismatched` (the key with another request: 422), `in_use` (in flight elsewhere past
 * the wait, or its claim taken over before the handler began: 409), `lease_taken_over` (the
 * expired claim of a holder that is gone, taken over: the handler runs) and `fenced` (a lookup
 * closed the key: 410).
 */
export type IdempotencyOutcome = 'new' | 'replayed' | 'mismatched' | 'in_use' | 'lease_taken_over' | 'fenced';

export const IDEMPOTENCY_REQUESTS_METRIC = 'idempotency_requests_total';

/** The counter of idempotency outcomes on `registry`, by route and outcome (one per registry). */
export function idempotencyOutcomes(registry: Registry): Counter<'route' | 'outcome'> {
  const existing = registry.getSingleMetric(IDEMPOTENCY_REQUESTS_METRIC);
  if (existing) return existing as Counter<'route' | 'outcome'>;
  return new Counter({
    name: IDEMPOTENCY_REQUESTS_METRIC,
    help: 'Idempotent requests by what their Idempotency-Key decided: new, replayed, mismatched, in_use, lease_taken_over, fenced',
    labelNames: ['route', 'outcome'],
    registers: [registry],
  });
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Registry;
  }
}

async function metricsPlugin(app: FastifyInstance, opts: { service: string }): Promise<void> {
  const registry = new Registry();
  registry.setDefaultLabels({ service: opts.service });
  collectDefaultMetrics({ register: registry });
  const labelNames = ['method', 'route', 'status', 'replayed'] as const;
  const requests = new Counter({ name: 'http_requests_total', help: 'HTTP requests answered', labelNames, registers: [registry] });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time to answer an HTTP request',
    labelNames,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  app.decorate('metrics', registry);

  app.addHook('onResponse', async (request, reply) => {
    const labels = {
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status: String(reply.statusCode),
      replayed: reply.getHeader('idempotent-replayed') === 'true' ? 'true' : 'false',
    };
    requests.inc(labels);
    duration.observe(labels, reply.elapsedTime / 1000);
  });

  // Public like /healthz: scrapers carry no service token or API key, and counts hold no secrets.
  app.get('/metrics', { config: { public: true, probe: true }, schema: { hide: true } }, async (_request, reply) => {
    reply.type(registry.contentType);
    return registry.metrics();
  });
}

export default fp(metricsPlugin, { name: 'metrics', fastify: '5.x' });
