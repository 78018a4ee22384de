/**
 * The one Temporal setup step, for any Temporal (the dev server of `npm start`, the cluster of
 * `npm run start:cluster`, a self-hosted cluster, Temporal Cloud): the namespace if it is missing,
 * then every custom search attribute the workflows upsert. Through the client's operator service,
 * so it needs no CLI or admin image. Idempotent: what exists is left alone, a second run changes
 * nothing.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Connection } from '@temporalio/client';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes';
import { msToTs } from '@temporalio/common/lib/time';
import { SEARCH_ATTRIBUTES } from '../workflows/search-attributes';

/** How long closed checkout runs stay readable in Temporal (the API keeps its own record beyond that). */
export const NAMESPACE_RETENTION = '7 days';

/** The gRPC status codes the setup tells apart. */
const grpcStatus = { DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6, UNAVAILABLE: 14 } as const;

export interface SetupReport {
  namespaceCreated: boolean;
  searchAttributesAdded: string[];
}

function grpcCode(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? (err as { code: number }).code : undefined;
}

/**
 * A namespace just registered is not visible to every frontend call at once (the namespace
 * cache refreshes every few seconds): adding search attributes right after fails with NotFound
 * (or Unavailable while the server is still warming up) until it is; those are retried.
 */
async function retryWhileNotVisible<T>(what: string, call: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await call();
    } catch (err) {
      const code = grpcCode(err);
      const transient = code === grpcStatus.NOT_FOUND || code === grpcStatus.UNAVAILABLE || code === grpcStatus.DEADLINE_EXCEEDED;
      if (!transient || Date.now() > deadline) throw new Error(`Temporal setup: ${what} failed: ${(err as Error).message}`);
      await sleep(500);
    }
  }
}

export async function ensureTemporalSetup(
  connection: Connection,
  namespace: string,
  opts: { log?: (m: string) => void; timeoutMs?: number } = {},
): Promise<SetupReport> {
  const log = opts.log ?? (() => undefined);
  const timeoutMs = opts.timeoutMs ?? 30_000;
  let namespaceCreated = false;
  try {
    await connection.workflowService.describeNamespace({ namespace });
  } catch (err) {
    if (grpcCode(err) !== grpcStatus.NOT_FOUND) throw new Error(`Temporal setup: describing namespace ${namespace} failed: ${(err as Error).message}`);
    try {
      await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs(NAMESPACE_RETENTION) });
      namespaceCreated = true;
      log(`created namespace ${namespace}`);
    } catch (registerErr) {
      // Two setup steps racing (two supervisors, compose restarts): the other one made it.
      if (grpcCode(registerErr) !== grpcStatus.ALREADY_EXISTS) throw new Error(`Temporal setup: creating namespace ${namespace} failed: ${(registerErr as Error).message}`);
    }
  }

  const { customAttributes } = await retryWhileNotVisible(
    `listing the search attributes of ${namespace}`,
    () => connection.operatorService.listSearchAttributes({ namespace }),
    timeoutMs,
  );
  const missing = SEARCH_ATTRIBUTES.filter((key) => !(key.name in (customAttributes ?? {})));
  if (missing.length) {
    const searchAttributes = Object.fromEntries(missing.map((key) => [key.name, encodeSearchAttributeIndexedValueType(key.type)!]));
    await retryWhileNotVisible(
      `adding search attributes ${missing.map((k) => k.name).join(', ')} to ${namespace}`,
      async () => {
        try {
          await connection.operatorService.addSearchAttributes({ namespace, searchAttributes });
        } catch (err) {
          if (grpcCode(err) !== grpcStatus.ALREADY_EXISTS) throw err;
        }
      },
      timeoutMs,
    );
    log(`added search attributes ${missing.map((k) => k.name).join(', ')} to ${namespace}`);
  }
  return { namespaceCreated, searchAttributesAdded: missing.map((k) => k.name) };
}
