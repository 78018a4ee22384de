/**
 * The two sides of the checkout benchmark, each one batch at a time with its CPU and server
 * requests read around it:
 *  - `baseline`: the engine's floor — the bench's own Temporal client starts the no-op workflow of
 *    three activities (tools/bench/workflows/noop.ts) and awaits its result (a long poll);
 *  - `checkout`: a shopper — `POST /checkouts` with `Prefer: wait=30` through the real API, which
 *    starts the real saga and waits on its result; the batch ends when every answer came back, and
 *    its CPU is read once the mailbox received every confirmation e-mail (the outbox's sending is
 *    part of what a checkout costs), bounded.
 *  - `sagaShape` / `localSagaShape`: the saga's three real service calls alone, as normal or as
 *    local activities (tools/bench/workflows/saga-shape.ts), started by the bench's client.
 */
import { randomBytes } from 'node:crypto';
import { checkoutIdFor } from '../../../src/saga/keys';
import { orderTotal } from '../../../src/saga/money';
import type { CheckoutInput } from '../../../src/saga/types';
import { sampleCheckoutRequest } from '../../support/samples';
import { serverActions, serverRequests } from './history';
import { drive, sleep } from './measure';
import { cpuSeconds, delta, selfCpuSeconds } from './proc';
import { BENCH_API_KEY, BENCH_MERCHANT, NOOP_TASK_QUEUE, type BenchStack } from './stack';

/** How long the server's counters take to show a request (its metrics are flushed every second). */
const COUNTER_SETTLE_MS = 2_500;

export type SideName = 'baseline' | 'checkout' | 'sagaShape' | 'localSagaShape';

export interface Batch {
  side: SideName;
  concurrency: number;
  count: number;
  latencies: number[];
  seconds: number;
  rate: number;
  /** CPU-seconds per process over the batch (and the e-mails it sent), `bench` = this process. */
  cpu: Record<string, number>;
  /** Frontend requests per operation over the batch. */
  requests: Record<string, number>;
  /** The server's `action` counter per action type over the batch. */
  actions: Record<string, number>;
  workflowIds: string[];
  failures: string[];
}

/** A checkout body spread over the five plentiful SKUs, so orders do not queue on one stock row. */
function checkoutBody(i: number, email: string) {
  return sampleCheckoutRequest({ email, items: [{ sku: `SKU-${(i % 5) + 1}`, quantity: 1, unitAmount: 1999 }] });
}

async function mailboxCount(stack: BenchStack, to: string): Promise<number> {
  const res = await fetch(`${stack.config.mailboxUrl}/messages?to=${encodeURIComponent(to)}`);
  const body = (await res.json()) as { count: number };
  return body.count;
}

/** Waits (bounded) until the mailbox holds `count` messages to `to`; false if it did not. */
async function waitForMail(stack: BenchStack, to: string, count: number, timeoutMs = 60_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await mailboxCount(stack, to)) >= count) return true;
    await sleep(100);
  }
  return false;
}

export async function runBatch(stack: BenchStack, side: SideName, count: number, concurrency: number): Promise<Batch> {
  const client = stack.client!;
  const tag = randomBytes(4).toString('hex');
  const email = `bench-${tag}@example.com`;
  const workflowIds: string[] = [];
  const failures: string[] = [];

  const send = async (i: number): Promise<void> => {
    if (side === 'baseline') {
      const workflowId = `noop-${tag}-${i}`;
      await client.workflow.execute('noopWorkflow', { taskQueue: NOOP_TASK_QUEUE, workflowId });
      workflowIds.push(workflowId);
      return;
    }
    if (side === 'sagaShape' || side === 'localSagaShape') {
      const key = `shape-${tag}-${i}`;
      const body = checkoutBody(i, email);
      const input: CheckoutInput = { ...body, checkoutId: checkoutIdFor(BENCH_MERCHANT, key), merchantId: BENCH_MERCHANT, amount: orderTotal(body.items) };
      const workflowType = side === 'sagaShape' ? 'sagaShapeWorkflow' : 'localSagaShapeWorkflow';
      await client.workflow.execute(workflowType, { taskQueue: stack.config.temporal.taskQueue, workflowId: input.checkoutId, args: [input] });
      workflowIds.push(input.checkoutId);
      return;
    }
    const res = await fetch(`${stack.config.apiUrl}/checkouts`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${BENCH_API_KEY}`,
        'idempotency-key': `bench-${tag}-${i}`,
        'content-type': 'application/json',
        prefer: 'wait=30',
      },
      body: JSON.stringify(checkoutBody(i, email)),
    });
    const body = (await res.json()) as { id?: string; status?: string };
    if (res.status !== 201 || body.status !== 'completed') failures.push(`${res.status} ${body.status ?? JSON.stringify(body).slice(0, 200)}`);
    if (body.id) workflowIds.push(body.id);
  };

  const watched = stack.watched();
  // The server's counters reach its metrics endpoint about a second late: read them once the
  // previous batch has settled, and again once this one has.
  const counters = async () => (stack.metricsUrl ? { requests: await serverRequests(stack.metricsUrl), actions: await serverActions(stack.metricsUrl) } : { requests: {}, actions: {} });
  await sleep(COUNTER_SETTLE_MS);
  const countersBefore = await counters();
  const cpuBefore = { ...cpuSeconds(watched), bench: selfCpuSeconds() };
  const result = await drive(count, concurrency, send);
  if (side !== 'baseline' && !(await waitForMail(stack, email, count))) failures.push('not every confirmation e-mail reached the mailbox within 60 s');
  const cpu = delta({ ...cpuSeconds(watched), bench: selfCpuSeconds() }, cpuBefore);
  await sleep(COUNTER_SETTLE_MS);
  const countersAfter = await counters();
  const requests = delta(countersAfter.requests, countersBefore.requests);
  const actions = delta(countersAfter.actions, countersBefore.actions);
  return { side, concurrency, count, ...result, cpu, requests, actions, workflowIds, failures };
}
