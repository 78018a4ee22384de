/** The benchmark's workload: one workflow task, one activity, completion — the persistence pattern of a saga step. */
import { proxyActivities } from '@temporalio/workflow';

const { echo } = proxyActivities<{ echo(n: number): Promise<number> }>({ startToCloseTimeout: '10 seconds' });

export async function pragmaBench(n: number): Promise<number> {
  return echo(n);
}
