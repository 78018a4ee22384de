/**
 * `npm run histories:record [-- --set NAME]`
 *
 * Records one workflow history per scenario — success, decline, out-of-stock compensation,
 * notification dead-letter, merchant refund, cancellation mid-saga — from the REAL system: a
 * private Postgres and Temporal dev server (the jest harness's global setup, called directly)
 * and every process on free ports (tools/dev/sandbox/stack.ts), driven through the checkout API as a
 * client would. Each history is written with `historyToJSON` (the proto-JSON form every Temporal
 * tool reads; a plain JSON.stringify of the History object cannot be replayed) to
 * `test/replay/histories/<set>/<scenario>.json`, where test/replay/replay.test.ts replays it.
 *
 * A set is a generation of histories: the default is the next unused `vN`, so recording after a
 * workflow change ADDS a set and keeps the older ones, whose runs may still be open in
 * production and must keep replaying (see docs/replay.md). `--set NAME` picks (or overwrites) one.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { DEV_API_KEY } from '../../src/platform/config';
import { ROOT } from '../dev/processes';
import type { CheckoutState } from '../../src/saga/types';
import globalSetup from '../dev/sandbox/setup';
import globalTeardown from '../dev/sandbox/teardown';
import { startStack, type Stack } from '../dev/sandbox/stack';
import { getStateQuery } from '../../src/workflows/checkout';
import { sampleCheckoutRequest } from '../support/samples';

export const HISTORIES_DIR = path.join(ROOT, 'test', 'replay', 'histories');

const say = (line: string) => process.stderr.write(`[record] ${line}\n`);

/** Held back this long, the order call is still in flight when the cancel arrives, yet answers within HTTP_TIMEOUT_MS (5 s). */
const ORDER_DELAY_MS = 3_000;

interface Ctx {
  stack: Stack;
  client: Client;
}

type Body = Record<string, unknown>;

async function api(ctx: Ctx, method: string, route: string, body: Body | undefined, wait: boolean): Promise<Body> {
  const res = await fetch(`${ctx.stack.urls.api}${route}`, {
    method,
    headers: {
      authorization: `Bearer ${DEV_API_KEY}`,
      ...(body === undefined
        ? {}
        : { 'idempotency-key': `replay-${randomBytes(6).toString('hex')}`, 'content-type': 'application/json' }),
      ...(wait ? { prefer: 'wait=30' } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json()) as Body;
  if (res.status >= 300) throw new Error(`${method} ${route} → ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** Starts a checkout through the API and returns its run's handle (workflow id = checkout id). */
async function checkout(ctx: Ctx, over: Body = {}, wait = true): Promise<WorkflowHandle> {
  const body = sampleCheckoutRequest({ customerId: 'cus_replay', email: 'buyer@example.com', ...over });
  const resource = await api(ctx, 'POST', '/checkouts', body, wait);
  return ctx.client.workflow.getHandle(resource.id as string);
}

async function expectStatus(handle: WorkflowHandle, status: CheckoutState['status'], failureCode?: string): Promise<void> {
  const state = (await handle.result()) as CheckoutState;
  if (state.status !== status || (failureCode && state.failure?.code !== failureCode)) {
    throw new Error(`${handle.workflowId}: expected ${status}${failureCode ? `/${failureCode}` : ''}, got ${JSON.stringify(state)}`);
  }
}

/** Each scenario drives one run to its end and returns it; its name is the file name. */
const SCENARIOS: Record<string, (ctx: Ctx) => Promise<WorkflowHandle>> = {
  async success(ctx) {
    const handle = await checkout(ctx);
    await expectStatus(handle, 'completed');
    return handle;
  },

  async decline(ctx) {
    const handle = await checkout(ctx, { paymentMethod: 'tok_chargeDeclined' });
    await expectStatus(handle, 'failed', 'card-declined');
    return handle;
  },

  async 'out-of-stock'(ctx) {
    const handle = await checkout(ctx, { items: [{ sku: 'OUT-OF-STOCK', quantity: 1, unitAmount: 500 }] });
    await expectStatus(handle, 'failed', 'out-of-stock');
    return handle;
  },

  async 'dead-letter'(ctx) {
    const handle = await checkout(ctx, { email: 'buyer@bounce.test' });
    await expectStatus(handle, 'completed');
    // The checkout completes once the outbox accepted the e-mail; the API's GET reports the dead letter.
    const deadline = Date.now() + 30_000;
    const delivery = async () => ((await api(ctx, 'GET', `/checkouts/${handle.workflowId}`, undefined, false)).notification as Body).status;
    while ((await delivery()) !== 'dead') {
      if (Date.now() > deadline) throw new Error('dead-letter: the e-mail was never dead-lettered');
      await new Promise((r) => setTimeout(r, 200));
    }
    return handle;
  },

  /** The history of the refundWorkflow that POST /checkouts/{id}/refunds starts (workflow id = refund id). */
  async refund(ctx) {
    const paid = await checkout(ctx);
    await expectStatus(paid, 'completed');
    const refund = await api(ctx, 'POST', `/checkouts/${paid.workflowId}/refunds`, { amount: 500 }, false);
    const handle = ctx.client.workflow.getHandle(refund.id as string);
    const state = (await handle.result()) as { status: string };
    if (state.status !== 'succeeded') throw new Error(`refund: ${JSON.stringify(state)}`);
    return handle;
  },

  /** Cancelled while the (delayed) order call is in flight: reconcile the order, cancel it, refund. */
  async cancellation(ctx) {
    await ctx.stack.restart('order', { FAULTS: `order:delay=${ORDER_DELAY_MS}` });
    try {
      const handle = await checkout(ctx, {}, false);
      const deadline = Date.now() + 30_000;
      while ((await handle.query(getStateQuery)).status !== 'ordering') {
        if (Date.now() > deadline) throw new Error('cancellation: the checkout never reached ordering');
        await new Promise((r) => setTimeout(r, 100));
      }
      await handle.cancel();
      await expectStatus(handle, 'failed', 'cancelled');
      return handle;
    } finally {
      await ctx.stack.restart('order', { FAULTS: '' });
    }
  },
};

/** What a complete set holds; the replay test checks every set against it. */
export const SCENARIO_NAMES = Object.keys(SCENARIOS);

/** `v1`, `v2`, … : the first set name not yet taken. */
function nextSet(): string {
  const taken = fs.existsSync(HISTORIES_DIR) ? fs.readdirSync(HISTORIES_DIR) : [];
  let n = 1;
  while (taken.includes(`v${n}`)) n++;
  return `v${n}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { set: { type: 'string' } } });
  const set = values.set ?? nextSet();
  if (!/^[\w.-]+$/.test(set)) throw new Error(`--set must be a plain folder name, got "${set}"`);
  const outDir = path.join(HISTORIES_DIR, set);

  await globalSetup();
  let stack: Stack | undefined;
  let close: (() => Promise<void>) | undefined;
  try {
    stack = await startStack({
      // Dead-letter a bounced e-mail after 3 quick attempts rather than the production schedule.
      env: { OUTBOX_MAX_ATTEMPTS: '3', OUTBOX_BACKOFF_BASE_MS: '100', OUTBOX_BACKOFF_MAX_MS: '200', LOG_LEVEL: 'warn' },
    });
    const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS! });
    const client = new Client({ connection });
    close = () => connection.close();
    fs.mkdirSync(outDir, { recursive: true });
    for (const [name, run] of Object.entries(SCENARIOS)) {
      const handle = await run({ stack, client });
      // Re-indented so a new recording shows up as a readable diff; still the same proto-JSON.
      const json = JSON.stringify(JSON.parse(historyToJSON(await handle.fetchHistory())), null, 2);
      fs.writeFileSync(path.join(outDir, `${name}.json`), `${json}\n`);
      say(`${name}: ${handle.workflowId} → ${path.relative(ROOT, outDir)}/${name}.json`);
    }
  } finally {
    await close?.();
    await stack?.stop();
    await globalTeardown();
  }
}

// Run as a script only: the replay test imports this module for its scenario names.
if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err) => {
      say(err instanceof Error ? (err.stack ?? err.message) : String(err));
      process.exit(1);
    },
  );
}
