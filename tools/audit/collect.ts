/**
 * Reads what the audit judges (`AuditInput`) from the running system: every service database
 * and the API database (config.databaseUrls), each checkout's state from Temporal (the stored
 * `final_state` once Temporal forgot the run), and the messages the mailbox accepted
 * (GET /messages, or its JSONL file when the mailbox is not running).
 */
import path from 'node:path';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { temporalConnectionFailure } from '../../src/platform/temporal-connection';
import { defaultPayloadConverter } from '@temporalio/common';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import type { Pool } from 'pg';
import type { Config, DatabaseName } from '../../src/platform/config';
import { createPool } from '../../src/platform/db/pool';
import { mapLimit } from '../support/concurrency';
import { MessageStore } from '../dev/mailbox/store';
import type { CheckoutState } from '../../src/saga/types';
import { CheckoutStatus } from '../../src/workflows/search-attributes';
import type { AuditCheckout, AuditInput, MailboxMessage } from './types';

/** Temporal look-ups in flight at once: enough to audit thousands of runs in seconds, gentle on a dev server. */
const TEMPORAL_CONCURRENCY = 16;

interface CheckoutRow {
  id: string;
  merchant_id: string;
  amount: string;
  /** The outcome the API recorded; `terminated` for a run ended from outside. */
  final_status: AuditCheckout['status'] | null;
}

// bigint columns come back from pg as strings; amounts are bounded far below 2^53.
const num = (v: string | number) => Number(v);

async function withPools<T>(config: Config, fn: (db: Record<DatabaseName, Pool>) => Promise<T>): Promise<T> {
  const db = Object.fromEntries(Object.entries(config.databaseUrls).map(([name, url]) => [name, createPool(url, 2)])) as Record<
    DatabaseName,
    Pool
  >;
  try {
    return await fn(db);
  } finally {
    await Promise.all(Object.values(db).map((p) => p.end()));
  }
}

/** The checkout's state: Temporal first (it also gives timings), the stored final state after retention. */
async function stateOf(client: Client | undefined, row: CheckoutRow): Promise<AuditCheckout> {
  const base = { id: row.id, merchantId: row.merchant_id, amount: num(row.amount) };
  if (!client) return { ...base, status: row.final_status ?? 'unknown', note: row.final_status ? recordedNote(row) : 'Temporal unreachable' };
  const handle = client.workflow.getHandle(row.id);
  try {
    const d = await handle.describe();
    const durationMs = d.closeTime ? d.closeTime.getTime() - d.startTime.getTime() : undefined;
    switch (d.status.name) {
      case 'COMPLETED': {
        // The result of the chain's last run (a compensation that kept failing continued as new).
        const { status } = (await handle.result()) as CheckoutState;
        const compensatingSince = status === 'failed' ? await compensationStart(client, row.id, d.runId) : undefined;
        return { ...base, status, durationMs, compensatingSince };
      }
      case 'RUNNING':
        return { ...base, status: d.typedSearchAttributes.get(CheckoutStatus) as CheckoutState['status'] ?? 'pending' };
      default:
        // The checkout workflow always completes with a state; anything else (TERMINATED,
        // TIMED_OUT, FAILED, CANCELED) is an operator's hand or a bug: nothing will undo its effects.
        return { ...base, status: 'terminated', note: `workflow ${d.status.name}`, durationMs };
    }
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
    return { ...base, status: row.final_status ?? 'unknown', note: row.final_status ? recordedNote(row) : 'no run in Temporal' };
  }
}

const recordedNote = (row: CheckoutRow) => (row.final_status === 'terminated' ? 'recorded terminated by the API' : undefined);

/**
 * When the checkout began compensating (epoch ms): the time of the upsert that set
 * `CheckoutStatus` to `compensating`. That is in the chain's first run: a run continued as new
 * (only ever while compensating) starts with the attribute already set.
 */
async function compensationStart(client: Client, workflowId: string, lastRunId: string): Promise<number | undefined> {
  const last = await client.workflow.getHandle(workflowId, lastRunId).fetchHistory();
  const firstRunId = last.events?.[0]?.workflowExecutionStartedEventAttributes?.firstExecutionRunId;
  const history = firstRunId && firstRunId !== lastRunId ? await client.workflow.getHandle(workflowId, firstRunId).fetchHistory() : last;
  for (const event of history.events ?? []) {
    const payload = event.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.[CheckoutStatus.name];
    if (!payload) continue;
    const value: unknown = defaultPayloadConverter.fromPayload(payload);
    if (value === 'compensating' || (Array.isArray(value) && value.includes('compensating'))) return optionalTsToMs(event.eventTime);
  }
  return undefined;
}

async function loadMessages(config: Config): Promise<MailboxMessage[]> {
  try {
    const res = await fetch(`${config.mailboxUrl}/messages`, { signal: AbortSignal.timeout(10_000) });
    if (res.ok) return ((await res.json()) as { messages: MailboxMessage[] }).messages;
  } catch {
    // Not running: read what it recorded.
  }
  return new MessageStore(path.join(config.dataDir, 'mailbox', 'messages.jsonl')).list();
}

export interface CollectOptions {
  /** An open Temporal client; default: connect to config.temporal (and close afterwards). */
  client?: Client;
}

export async function collectAuditInput(config: Config, opts: CollectOptions = {}): Promise<AuditInput> {
  let connection: Connection | undefined;
  let client = opts.client;
  if (!client) {
    // The same connection settings as the worker and the API (TLS, API key, namespace): an audit
    // of a cluster or of Temporal Cloud reads the runs there. Unreachable, it goes on with the
    // outcomes the API recorded, and says so.
    connection = await Connection.connect({ ...config.temporal.connection, connectTimeout: 5_000 }).catch((err: unknown) => {
      process.stderr.write(`audit: ${temporalConnectionFailure(config, err).message}; going on with the recorded outcomes\n`);
      return undefined;
    });
    client = connection && new Client({ connection, namespace: config.temporal.namespace });
  }
  try {
    return await withPools(config, async (db) => {
      const [checkoutRows, apiRefunds, charges, refunds, orders, cancellations, notifications, messages] = await Promise.all([
        db.checkout.query<CheckoutRow>(`SELECT id, merchant_id, amount, final_state->>'status' AS final_status FROM checkouts ORDER BY created_at, id`),
        db.checkout.query(`SELECT id, checkout_id AS "checkoutId", amount FROM checkout_refunds`),
        db.payment.query(
          `SELECT id, tenant, idempotency_key AS key, amount, amount_refunded AS "amountRefunded", status,
                  (extract(epoch FROM created_at) * 1000)::float8 AS "createdAt" FROM charges`,
        ),
        db.payment.query(`SELECT id, tenant, idempotency_key AS key, charge_id AS "chargeId", amount FROM refunds`),
        db.order.query(
          `SELECT id, tenant, idempotency_key AS key, charge_id AS "chargeId", status,
                  (extract(epoch FROM created_at) * 1000)::float8 AS "createdAt" FROM orders`,
        ),
        db.order.query(`SELECT order_id AS id, order_id AS "orderId", tenant, idempotency_key AS key FROM order_cancellations`),
        db.notification.query(`SELECT id, tenant, idempotency_key AS key, message_id AS "messageId", status FROM notifications`),
        loadMessages(config),
      ]);
      const amounts = <T extends { amount: string | number }>(rows: T[]) => rows.map((r) => ({ ...r, amount: num(r.amount) }));
      return {
        checkouts: await mapLimit(checkoutRows.rows, TEMPORAL_CONCURRENCY, (row) => stateOf(client, row)),
        apiRefunds: amounts(apiRefunds.rows),
        charges: amounts(charges.rows).map((c) => ({ ...c, amountRefunded: num(c.amountRefunded) })),
        refunds: amounts(refunds.rows),
        orders: orders.rows,
        cancellations: cancellations.rows,
        notifications: notifications.rows,
        messages,
      } as AuditInput;
    });
  } finally {
    await connection?.close();
  }
}
