/**
 * docs/grafana-dashboard.json is importable and queries only series the system defines: each
 * metric name in its expressions is registered by our own code (built here in-process, no stack)
 * or is a Temporal SDK series (`temporal_…`, checked against the worker's real endpoint by
 * test/e2e/metrics.test.ts, which also checks every name against a live scrape).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import type { Pool } from 'pg';
import { Histogram, type Registry } from 'prom-client';
import { COMPENSATION_ATTEMPTS_METRIC } from '../../src/activities';
import { createBaseApp } from '../../src/platform/http/base-app';
import metrics from '../../src/platform/http/metrics';
import idempotency from '../../src/platform/idempotency/plugin';
import { checkoutMetrics } from '../../src/services/checkout-api/metrics';
import { registerOutboxMetrics } from '../../src/services/notification/outbox-metrics';
import { dashboardExprs, metricNamesOf } from '../support/prometheus';

const dashboard = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'grafana-dashboard.json'), 'utf8'));

/** The series names a registry exposes (a histogram as its _bucket, _sum and _count). */
function seriesNames(registry: Registry): string[] {
  return registry.getMetricsAsArray().flatMap((m) => {
    const { name } = m as unknown as { name: string };
    return m instanceof Histogram ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name];
  });
}

/** Every series our code registers: the shared HTTP metrics, the plugin's, the API's, the outbox's, the worker's own counter. */
async function definedNames(): Promise<Set<string>> {
  const app = createBaseApp();
  await app.register(metrics, { service: 'test' });
  const noPool = {} as Pool; // registering touches no database; only a scrape would
  await app.register(idempotency, { pool: noPool, retentionMs: 1, leaseMs: 1, waitMs: 1, purgeIntervalMs: 0, tenantOf: () => 't', fenceRoute: true });
  checkoutMetrics(app.metrics);
  registerOutboxMetrics(app.metrics, noPool, app.log as FastifyBaseLogger);
  const names = new Set([...seriesNames(app.metrics), `${COMPENSATION_ATTEMPTS_METRIC}_total`]);
  await app.close();
  return names;
}

test('every panel has a Prometheus query on the dashboard datasource; ids are unique; the grid is 24 wide', () => {
  const all: { id: number; type: string; gridPos: { x: number; w: number }; datasource?: { uid: string }; targets?: { expr?: string }[] }[] = [];
  const walk = (d: { panels?: unknown[] }) => {
    for (const p of (d.panels ?? []) as (typeof all)[number][]) {
      all.push(p);
      walk(p as { panels?: unknown[] });
    }
  };
  walk(dashboard);
  expect(new Set(all.map((p) => p.id)).size).toBe(all.length);
  for (const p of all) {
    expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
    if (p.type === 'row') continue;
    expect(p.datasource?.uid).toBe('${datasource}');
    expect(p.targets?.length).toBeGreaterThan(0);
    for (const t of p.targets!) expect(t.expr).toEqual(expect.any(String));
  }
  expect(dashboard.templating.list).toContainEqual(expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }));
});

test('the dashboard shows each part of the business story', () => {
  const queried = new Set(dashboardExprs(dashboard).flatMap(({ expr }) => metricNamesOf(expr)));
  for (const name of [
    'checkout_started_total',
    'checkout_completed_total',
    'checkout_failed_total',
    'checkout_compensation_attempts_total',
    'idempotency_requests_total',
    'outbox_pending_messages',
    'outbox_oldest_pending_age_seconds',
    'outbox_dead_letter_messages',
    'temporal_workflow_task_execution_latency_seconds_bucket',
    'temporal_worker_task_slots_available',
    'temporal_worker_task_slots_used',
  ]) {
    expect(queried).toContain(name);
  }
});

test('every metric name the dashboard queries is defined by our code, or is a Temporal SDK series', async () => {
  const defined = await definedNames();
  const unknown = dashboardExprs(dashboard)
    .flatMap(({ panel, expr }) => metricNamesOf(expr).map((name) => ({ panel, name })))
    .filter(({ name }) => !defined.has(name) && !name.startsWith('temporal_'));
  expect(unknown).toEqual([]);
});

test('metric names are read from PromQL: not functions, labels, ranges, groupings, numbers or variables', () => {
  expect(metricNamesOf('sum by (code) (rate(checkout_failed_total{code!="x"}[$__rate_interval]))')).toEqual(['checkout_failed_total']);
  expect(
    metricNamesOf('histogram_quantile(0.95, sum by (le, activity_type) (rate(temporal_activity_execution_latency_seconds_bucket[5m])))'),
  ).toEqual(['temporal_activity_execution_latency_seconds_bucket']);
  expect(metricNamesOf('sum(increase(a_total[1h])) / clamp_min(sum(increase(b_total[1h])) + 1e-9, 1)')).toEqual(['a_total', 'b_total']);
  expect(metricNamesOf('max(x) without (instance) or on (job) y offset 5m')).toEqual(['x', 'y']);
});
