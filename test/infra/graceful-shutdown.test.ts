/**
 * Graceful shutdown under load, on two workers and two API replicas (start:cluster's shape) on
 * the harness: every charge is held 3 s at the payment service, so activities and `Prefer: wait`
 * requests are in flight when the signals come.
 *  - SIGTERM to worker-1 mid-load: it exits 0 within its grace time; the activities it was running
 *    complete on it (no timeout, no second attempt anywhere), worker-2 carries on with the rest.
 *  - SIGTERM to api-2 mid-load: every request it had in flight is answered before it exits 0 within
 *    its bound: with the checkout's outcome (201) when the run ends in time, else — the waits end
 *    WAIT_MARGIN_MS before the bound (here SHUTDOWN_TIMEOUT_MS=5000: after 2 s) — with 202 and the
 *    checkout as it stands, which then completes. A client that finds api-2 closed sends the same
 *    key to api-1, as behind a load balancer.
 *  - Afterwards every checkout is completed once, and the audit (tools/audit) finds no violation.
 */
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { DEV_API_KEY, portEnv } from '../../src/platform/config';
import { collectAuditInput } from '../../tools/audit/collect';
import { auditInvariants } from '../../tools/audit/invariants';
import type { ChildHandle } from '../../tools/dev/child';
import { processSpec, type ProcessSpec } from '../../tools/dev/processes';
import { startProcess, startStack, type Stack } from '../../tools/dev/sandbox/stack';
import { freePorts } from '../../tools/dev/wait';
import { sampleCheckoutRequest } from '../../tools/support/samples';
import { eventually } from '../support/eventually';
import { connectClient } from '../support/temporal';

jest.setTimeout(300_000);

const EventType = temporal.api.enums.v1.EventType;
const CHARGE_DELAY_MS = 3_000;
const CHECKOUTS = 60;
const CONCURRENCY = 12;
/** api-2's shutdown bound: its waits end 3 s before it (src/services/checkout-api/main.ts), i.e. after 2 s, before any charge can end. */
const API2_SHUTDOWN_MS = 5_000;

let stack: Stack;
let client: Client;
let closeClient: () => Promise<void>;
const extra: ChildHandle[] = [];
let apiUrls: [string, string];

beforeAll(async () => {
  const [metrics1, metrics2, api2] = await freePorts(3);
  stack = await startStack({
    env: { LOG_LEVEL: 'warn', [portEnv('workerMetrics')]: String(metrics1) },
    envFor: { payment: { FAULTS: `charge:delay=${CHARGE_DELAY_MS}` } },
  });
  const spec = (name: 'worker' | 'api', n: number, env: Record<string, string>): ProcessSpec => ({ ...processSpec(name), name: `${name}-${n}`, env });
  extra.push(await startProcess(spec('worker', 2, { [portEnv('workerMetrics')]: String(metrics2) }), stack.env, `${stack.id}-worker-2`));
  extra.push(await startProcess(spec('api', 2, { [portEnv('api')]: String(api2), SHUTDOWN_TIMEOUT_MS: String(API2_SHUTDOWN_MS), LOG_LEVEL: 'info' }), stack.env, `${stack.id}-api-2`));
  apiUrls = [stack.urls.api, `http://127.0.0.1:${api2}`];
  ({ client, close: closeClient } = await connectClient());
}, 240_000);

afterAll(async () => {
  await closeClient?.();
  await Promise.all(extra.map((c) => c.stop(5_000)));
  await stack?.stop();
});

/** True when an activity of an open checkout on the stack's task queue is running on the worker of `identity`. */
async function runningOn(identity: string): Promise<boolean> {
  for await (const run of client.workflow.list({ query: `TaskQueue = "${stack.config.temporal.taskQueue}" AND ExecutionStatus = "Running"` })) {
    const { raw } = await client.workflow.getHandle(run.workflowId, run.runId).describe();
    const started = temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;
    if ((raw.pendingActivities ?? []).some((a) => a.state === started && a.lastWorkerIdentity?.startsWith(identity))) return true;
  }
  return false;
}

interface Outcome {
  key: string;
  /** Which replica answered, and whether the request was in flight there when it got SIGTERM. */
  replica: number;
  sentAt: number;
  answeredAt: number;
  status: number;
  body: { id?: string; status?: string };
  retriedElsewhere: boolean;
}

test('SIGTERM to a worker and to an API replica mid-load: running activities and in-flight requests finish, nothing is lost or duplicated', async () => {
  const worker1 = stack.process('worker')!;
  const api2 = extra[1]!;
  const outcomes: Outcome[] = [];
  let apiDown = -1;

  const post = (replica: number, key: string) =>
    fetch(`${apiUrls[replica]}/checkouts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${DEV_API_KEY}`, 'idempotency-key': key, 'content-type': 'application/json', prefer: 'wait=60' },
      body: JSON.stringify(sampleCheckoutRequest({ email: `graceful-${key}@example.com` })),
    });
  const one = async (i: number) => {
    const key = `graceful-${randomBytes(6).toString('hex')}`;
    let replica = i % 2 === 1 && apiDown === 1 ? 0 : i % 2;
    const sentAt = Date.now();
    let retriedElsewhere = false;
    let res: Response;
    try {
      res = await post(replica, key);
      // A replica that is closing refuses new requests (503 on a kept-alive connection): the same key elsewhere.
      if (res.status === 503 && replica === apiDown) throw new Error('closing');
    } catch (err) {
      if (replica !== apiDown) {
        const tail = (replica === 0 ? stack.process('api')! : api2).tail().slice(-20).join('\n');
        throw new Error(`checkout ${i} on replica ${replica} after ${Date.now() - sentAt} ms (${Date.now() - loadStarted} ms into the load): ${(err as Error).message} (${String((err as Error).cause)})\n${tail}`);
      }
      retriedElsewhere = true;
      replica = 0;
      res = await post(replica, key);
    }
    outcomes.push({ key, replica, sentAt, answeredAt: Date.now(), status: res.status, body: (await res.json()) as Outcome['body'], retriedElsewhere });
  };

  let next = 0;
  const loadStarted = Date.now();
  const load = Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < CHECKOUTS) await one(next++);
    }),
  );

  // SIGTERM once worker-1 is running an activity (a charge held at the payment service).
  await eventually(() => runningOn(`${worker1.pid}@`), 60_000);
  const workerSigterm = Date.now();
  const workerExit = await worker1.stop(30_000); // SIGTERM; SIGKILL only after 30 s
  const workerStopped = Date.now();
  expect(workerExit).toEqual({ code: 0, signal: null });

  // Three requests api-2 cannot finish within its wait bound (the charge alone takes 3 s), then its SIGTERM.
  const young = Array.from({ length: 3 }, async () => {
    const key = `graceful-young-${randomBytes(6).toString('hex')}`;
    const res = await post(1, key);
    return { key, status: res.status, body: (await res.json()) as Outcome['body'], answeredAt: Date.now() };
  });
  await new Promise((r) => setTimeout(r, 300));
  const apiSigterm = Date.now();
  apiDown = 1;
  const apiExit = await api2.stop(30_000);
  const apiStopped = Date.now();
  expect([apiExit, apiExit.code === 0 ? '' : api2.tail().join('\n')]).toEqual([{ code: 0, signal: null }, '']);
  expect(apiStopped - apiSigterm).toBeLessThan(API2_SHUTDOWN_MS + 1_000);
  await load;

  // Every request was answered, every checkout of the load completed.
  expect(outcomes).toHaveLength(CHECKOUTS);
  expect(outcomes.filter((o) => !(o.status === 201 && o.body.status === 'completed') && o.status !== 202).map((o) => `${o.key}: ${o.status} ${JSON.stringify(o.body)}`)).toEqual([]);
  // Requests api-2 had in flight when it got SIGTERM were answered by it, not cut off.
  const inFlightAtApi2 = outcomes.filter((o) => o.replica === 1 && !o.retriedElsewhere && o.sentAt < apiSigterm - 200 && o.answeredAt > apiSigterm);
  expect(inFlightAtApi2.length).toBeGreaterThan(0);
  // The young ones: answered 202 with the checkout as it stood, about when the waits ended.
  const answeredYoung = await Promise.all(young);
  for (const y of answeredYoung) {
    expect([y.key, y.status, y.body.status]).toEqual([y.key, 202, expect.not.stringMatching(/^(completed|failed)$/)]);
    expect(y.answeredAt - apiSigterm).toBeLessThan(API2_SHUTDOWN_MS);
  }
  // Whatever answered 202 completes: read at the replica still up.
  const accepted = [...outcomes.filter((o) => o.status === 202), ...answeredYoung];
  for (const a of accepted) {
    await eventually(async () => {
      const res = await fetch(`${apiUrls[0]}/checkouts/${a.body.id}`, { headers: { authorization: `Bearer ${DEV_API_KEY}` } });
      return ((await res.json()) as { status: string }).status === 'completed';
    }, 60_000);
  }
  const all = [...outcomes, ...answeredYoung];

  // The activities worker-1 was running at its SIGTERM completed there: started before, completed after, first attempt.
  const identity1 = `${worker1.pid}@`;
  let finishedOnWorker1AfterSigterm = 0;
  let onWorker2 = 0;
  for (const o of all) {
    const history = await client.workflow.getHandle(o.body.id!).fetchHistory();
    const events = history.events ?? [];
    for (const e of events) {
      expect(e.eventType).not.toBe(EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT);
      expect(e.eventType).not.toBe(EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED);
      const started = e.activityTaskStartedEventAttributes;
      if (!started) continue;
      expect(started.attempt).toBe(1);
      const completed = events.find((c) => Number(c.activityTaskCompletedEventAttributes?.startedEventId) === Number(e.eventId));
      expect(completed).toBeDefined();
      const startedAt = Number(e.eventTime!.seconds) * 1000 + Math.floor(e.eventTime!.nanos! / 1e6);
      const completedAt = Number(completed!.eventTime!.seconds) * 1000 + Math.floor(completed!.eventTime!.nanos! / 1e6);
      if (started.identity?.startsWith(identity1) && startedAt < workerSigterm && completedAt > workerSigterm) finishedOnWorker1AfterSigterm++;
      if (!started.identity?.startsWith(identity1) && startedAt > workerStopped) onWorker2++;
    }
  }
  expect(finishedOnWorker1AfterSigterm).toBeGreaterThan(0);
  expect(onWorker2).toBeGreaterThan(0);

  // Nothing lost, nothing twice: one checkout per key, and every invariant of the audit holds.
  expect(new Set(all.map((o) => o.body.id)).size).toBe(all.length);
  const report = auditInvariants(await collectAuditInput(stack.config, { client }));
  expect(report.violations).toEqual([]);
  expect([report.checkouts, report.terminal]).toEqual([all.length, all.length]);
  process.stdout.write(
    `graceful shutdown: ${finishedOnWorker1AfterSigterm} activities finished on worker-1 after its SIGTERM (stopped in ${workerStopped - workerSigterm} ms), ` +
      `${onWorker2} ran on worker-2 after; api-2 answered ${inFlightAtApi2.length + answeredYoung.length} in-flight requests after its SIGTERM ` +
      `(${accepted.length} with 202) and stopped in ${apiStopped - apiSigterm} ms; ${outcomes.filter((o) => o.retriedElsewhere).length} retried on api-1\n`,
  );
});
