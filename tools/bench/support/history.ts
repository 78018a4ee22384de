/**
 * Temporal actions per run, counted from the run's history as Temporal Cloud bills them
 * (docs.temporal.io/cloud/actions), and the server-side requests per run, from the dev server's
 * Prometheus counters.
 *
 * What history shows and is counted: the start (1), each activity attempt (an
 * ActivityTaskStarted carries its attempt number: retries are in it), timers started, signals
 * received, search-attribute upserts (those at start are free and not events; one that only sets
 * TemporalChangeVersion is free too), markers (all markers of one workflow task are one action:
 * patch markers and local activities alike), updates accepted, child starts (two each) and a
 * continue-as-new (the next run's start). What history does not show: queries (each one a billable
 * action and a workflow task on a worker) and heartbeats — the request counters below show the
 * queries the system actually made.
 */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

type Event = temporal.api.history.v1.IHistoryEvent;
const T = temporal.api.enums.v1.EventType;

export interface RunActions {
  /** Billable actions as counted below. */
  actions: number;
  starts: number;
  activityAttempts: number;
  timers: number;
  signals: number;
  upserts: number;
  /** Upserts of TemporalChangeVersion alone (the SDK's, one per patch): not billed, still a visibility write. */
  versionUpserts: number;
  /** Workflow tasks that recorded at least one marker (each one action). */
  markerTasks: number;
  /** Marker events (patches, local activities), for the record: not each an action. */
  markers: number;
  other: number;
  /** Not billed, but what the server and the worker work through. */
  events: number;
  workflowTasks: number;
  /** Where a run's time goes, in ms, from the events' times: start to close; … */
  runMs: number;
  /** … activities waiting in their task queue (scheduled → started); … */
  activityQueueMs: number;
  /** … activities running (started → closed: the service calls); … */
  activityRunMs: number;
  /** … workflow tasks, from scheduled to completed (queue + the worker's turn). */
  workflowTaskMs: number;
}

export function countActions(events: Event[]): RunActions {
  const r: RunActions = {
    actions: 0,
    starts: 0,
    activityAttempts: 0,
    timers: 0,
    signals: 0,
    upserts: 0,
    versionUpserts: 0,
    markerTasks: 0,
    markers: 0,
    other: 0,
    events: events.length,
    workflowTasks: 0,
    runMs: 0,
    activityQueueMs: 0,
    activityRunMs: 0,
    workflowTaskMs: 0,
  };
  const markerTasks = new Set<string>();
  const time = (e: Event | undefined) => (e?.eventTime ? Number(e.eventTime.seconds ?? 0) * 1000 + (e.eventTime.nanos ?? 0) / 1e6 : 0);
  const byId = new Map(events.map((e) => [String(e.eventId), e]));
  if (events.length) r.runMs = time(events.at(-1)) - time(events[0]);
  for (const e of events) {
    const a = e.activityTaskStartedEventAttributes;
    if (a) r.activityQueueMs += time(e) - time(byId.get(String(a.scheduledEventId)));
    const done = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes;
    if (done) r.activityRunMs += time(e) - time(byId.get(String(done.startedEventId)));
    const wft = e.workflowTaskCompletedEventAttributes;
    if (wft) r.workflowTaskMs += time(e) - time(byId.get(String(wft.scheduledEventId)));
  }
  for (const e of events) {
    switch (e.eventType) {
      case T.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        r.starts++;
        break;
      case T.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        r.activityAttempts += e.activityTaskStartedEventAttributes?.attempt ?? 1;
        break;
      case T.EVENT_TYPE_TIMER_STARTED:
        r.timers++;
        break;
      case T.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
        r.signals++;
        break;
      case T.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: {
        const fields = Object.keys(e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {});
        if (fields.some((f) => f !== 'TemporalChangeVersion')) r.upserts++;
        else r.versionUpserts++;
        break;
      }
      case T.EVENT_TYPE_MARKER_RECORDED:
        r.markers++;
        markerTasks.add(String(e.markerRecordedEventAttributes?.workflowTaskCompletedEventId ?? e.eventId));
        break;
      case T.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
      case T.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED:
      case T.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
        r.other++;
        break;
      case T.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
        r.other += 2;
        break;
      case T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
        r.workflowTasks++;
        break;
      default:
        break;
    }
  }
  r.markerTasks = markerTasks.size;
  r.actions = r.starts + r.activityAttempts + r.timers + r.signals + r.upserts + r.markerTasks + r.other;
  return r;
}

/** The mean of each count over the runs' histories (a sample of workflow ids). */
export async function meanActions(client: Client, workflowIds: string[]): Promise<RunActions & { runs: number }> {
  const all: RunActions[] = [];
  for (const id of workflowIds) {
    const history = await client.workflow.getHandle(id).fetchHistory();
    all.push(countActions(history.events ?? []));
  }
  const keys = Object.keys(countActions([])) as (keyof RunActions)[];
  const mean = Object.fromEntries(keys.map((k) => [k, all.reduce((s, a) => s + a[k], 0) / Math.max(1, all.length)])) as unknown as RunActions;
  return { ...mean, runs: all.length };
}

/** Prometheus counters of the dev server: `name{labels} value` lines summed by one label, filtered by others. */
async function counters(metricsUrl: string, name: string, by: string, where: Record<string, string>): Promise<Record<string, number>> {
  const text = await (await fetch(metricsUrl)).text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const labels = Object.fromEntries([...line.slice(0, line.indexOf('}')).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    if (Object.entries(where).some(([k, v]) => labels[k] !== v)) continue;
    const key = labels[by];
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (key && Number.isFinite(value)) out[key] = (out[key] ?? 0) + value;
  }
  return out;
}

/** gRPC requests the frontend served in the namespace, per operation (`service_requests`). */
export function serverRequests(metricsUrl: string): Promise<Record<string, number>> {
  return counters(metricsUrl, 'service_requests', 'operation', { service_name: 'frontend', namespace: 'default' });
}

/** The server's own `action` counter per action type (its estimate of billable actions). */
export function serverActions(metricsUrl: string): Promise<Record<string, number>> {
  return counters(metricsUrl, 'action', 'action_type', { namespace: 'default' });
}
