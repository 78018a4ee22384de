/**
 * `npm run replay -- --query '<visibility query>' [--limit N] [--workflows <module>]`: fetches the
 * histories of real runs from a running Temporal (dev server, cluster or Cloud, through the same
 * connection settings as the worker: src/platform/config.ts) and replays them against the
 * current workflow code (`src/workflows`, or `--workflows`). The step before deploying a
 * workflow change: see docs/replay.md.
 *
 * Exit 0 when every history replays; 1 when one does not, naming the workflow and, for a
 * nondeterminism error, the first recorded event the code disagrees with; 2 for a usage error.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { loadConfig } from '../../src/platform/config';
import { connectClient, describeTemporalConnection } from '../../src/platform/temporal-connection';

type History = temporal.api.history.v1.IHistory;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

export const DEFAULT_LIMIT = 100;
const ROOT = path.resolve(__dirname, '..', '..');

class UsageError extends Error {}

/** The name an event carries, for people: activity type, timer id, child workflow type, marker or signal name. */
function eventName(event: HistoryEvent): string | undefined {
  return (
    event.activityTaskScheduledEventAttributes?.activityType?.name ??
    event.timerStartedEventAttributes?.timerId ??
    event.startChildWorkflowExecutionInitiatedEventAttributes?.workflowType?.name ??
    event.markerRecordedEventAttributes?.markerName ??
    event.signalExternalWorkflowExecutionInitiatedEventAttributes?.signalName ??
    undefined
  );
}

function eventTypeName(event: HistoryEvent): string {
  // Histories from the service carry the enum number; named like the Web UI names them.
  const type = event.eventType as unknown;
  const raw = typeof type === 'number' ? (temporal.api.enums.v1.EventType[type] ?? String(type)) : String(type);
  return raw.replace(/^EVENT_TYPE_/, '').toLowerCase().replace(/(^|_)(\w)/g, (_m, _u, c: string) => c.toUpperCase());
}

/**
 * The recorded event a nondeterminism error is about. Core names it either by id
 * ("… event HistoryEvent { event_id: 5, …") or by what it recorded ("scheduled event 'createCharge'
 * does not match … command 'createOrder'"): then it is the first event carrying that name.
 */
export function firstMismatchingEvent(message: string, history: History): HistoryEvent | undefined {
  const events = history.events ?? [];
  const byId = /event_id: (\d+)/.exec(message);
  if (byId) return events.find((e) => Number(e.eventId) === Number(byId[1]));
  const recorded = /(?:scheduled|recorded|started|initiated) event '([^']+)'/.exec(message);
  if (recorded) return events.find((e) => eventName(e) === recorded[1]);
  return undefined;
}

export function describeEvent(event: HistoryEvent): string {
  const name = eventName(event);
  return `event ${Number(event.eventId)} ${eventTypeName(event)}${name ? ` (${name})` : ''}`;
}

/** The core's own sentence, without the SDK's wrapping. */
function coreReason(message: string): string {
  return /\[TMPRL\d+\][^"]*/.exec(message)?.[0] ?? message;
}

function parseCommandLine(argv: string[]): { query: string; limit: number; workflowsPath: string } {
  const { values } = parseArgs({
    args: argv,
    options: { query: { type: 'string' }, limit: { type: 'string' }, workflows: { type: 'string' } },
  });
  if (!values.query) throw new UsageError("--query '<visibility query>' is required, e.g. --query 'WorkflowType = \"checkoutWorkflow\" AND ExecutionStatus = \"Running\"'");
  const limit = values.limit === undefined ? DEFAULT_LIMIT : Number(values.limit);
  if (!Number.isSafeInteger(limit) || limit < 1) throw new UsageError(`--limit must be a positive integer, got "${values.limit}"`);
  const workflowsPath = values.workflows ? path.resolve(values.workflows) : path.join(ROOT, 'src', 'workflows');
  return { query: values.query, limit, workflowsPath };
}

async function* limited<T>(source: AsyncIterable<T>, limit: number): AsyncIterable<T> {
  if (limit <= 0) return;
  let n = 0;
  for await (const item of source) {
    yield item;
    if (++n >= limit) return;
  }
}

async function main(): Promise<number> {
  const { query, limit, workflowsPath } = parseCommandLine(process.argv.slice(2));
  const config = loadConfig();
  // The replay worker's own INFO lines would bury the one line that matters.
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const workflowBundle = await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('ERROR') });
  const connection = await connectClient(config);
  try {
    const client = new Client({ connection, namespace: config.temporal.namespace });
    console.log(`replaying up to ${limit} run(s) matching ${query} from ${describeTemporalConnection(config)} against ${path.relative(ROOT, workflowsPath) || workflowsPath}`);
    const histories = new Map<string, History>();
    const fetched = limited(client.workflow.list({ query }).intoHistories(), limit);
    async function* remembered() {
      for await (const h of fetched) {
        histories.set(h.workflowId, h.history as History);
        yield h;
      }
    }
    let ok = 0;
    const failed: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle }, remembered())) {
      if (!result.error) {
        ok++;
        console.log(`ok    ${result.workflowId}`);
        continue;
      }
      const message = result.error.message;
      let line: string;
      if (result.error instanceof DeterminismViolationError) {
        const event = firstMismatchingEvent(message, histories.get(result.workflowId) ?? {});
        line = `NONDETERMINISTIC ${result.workflowId}: ${event ? `first mismatching ${describeEvent(event)}: ` : ''}${coreReason(message)}`;
      } else {
        line = `FAILED ${result.workflowId}: ${result.error.name}: ${message}`;
      }
      failed.push(result.workflowId);
      console.log(line);
    }
    if (ok + failed.length === 0) {
      console.log('no run matched the query: nothing to replay');
      return 0;
    }
    console.log(`replayed ${ok + failed.length}: ${ok} ok, ${failed.length} failed${failed.length ? ` (${failed.join(', ')})` : ''}`);
    return failed.length ? 1 : 0;
  } finally {
    await connection.close();
  }
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err instanceof UsageError ? `usage: ${err.message}` : `replay failed: ${(err as Error).message}`);
      process.exit(err instanceof UsageError ? 2 : 1);
    },
  );
}
