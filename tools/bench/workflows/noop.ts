/**
 * The engine's floor, as the checkout benchmark's baseline (tools/bench/checkout.ts): a workflow
 * of three activities that do nothing, one after the other, as the saga's three steps are. Each
 * activity call carries a summary, as the saga's do, so the commands weigh the same.
 */
import { proxyActivities } from '@temporalio/workflow';

export interface NoopActivities {
  noop(step: number): Promise<{ id: string }>;
}

const remote = proxyActivities<NoopActivities>({ startToCloseTimeout: '10s', retry: { initialInterval: '200ms', maximumAttempts: 10 } });

export async function noopWorkflow(): Promise<string[]> {
  const ids: string[] = [];
  for (const step of [1, 2, 3]) ids.push((await remote.noop.executeWithOptions({ summary: `No-op step ${step}` }, [step])).id);
  return ids;
}
