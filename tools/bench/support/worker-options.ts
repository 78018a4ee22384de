/**
 * Worker settings under measurement. A benchmark passes a variant to its worker processes as
 * JSON in BENCH_WORKER_OPTIONS (e.g. `{"maxCachedWorkflows":0}`), on top of what the worker of
 * src/worker/main.ts sets, so the baseline's worker and the checkout worker run the same settings.
 */
import type { WorkerOptions } from '@temporalio/worker';

export const WORKER_OPTIONS_ENV = 'BENCH_WORKER_OPTIONS';

/** The settings a bench worker adds to the production worker's; {} = exactly the production worker. */
export type WorkerVariant = Partial<
  Pick<
    WorkerOptions,
    | 'maxCachedWorkflows'
    | 'maxConcurrentWorkflowTaskExecutions'
    | 'maxConcurrentActivityTaskExecutions'
    | 'maxConcurrentLocalActivityExecutions'
    | 'maxConcurrentWorkflowTaskPolls'
    | 'maxConcurrentActivityTaskPolls'
    | 'workflowTaskPollerBehavior'
    | 'activityTaskPollerBehavior'
    | 'nonStickyToStickyPollRatio'
    | 'reuseV8Context'
    | 'workflowThreadPoolSize'
  >
>;

export function workerVariant(env: NodeJS.ProcessEnv = process.env): WorkerVariant {
  const raw = env[WORKER_OPTIONS_ENV];
  if (!raw) return {};
  const parsed: unknown = JSON.parse(raw);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`${WORKER_OPTIONS_ENV} must be a JSON object`);
  return parsed as WorkerVariant;
}

export function describeVariant(v: WorkerVariant): string {
  const entries = Object.entries(v);
  return entries.length ? entries.map(([k, val]) => `${k}=${JSON.stringify(val)}`).join(', ') : 'production settings';
}
