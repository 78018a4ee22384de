/**
 * Replays of compensations that failed rounds (test/replay/compensation-histories, recorded by
 * ./record-compensation-histories.ts on a dev server): the `compensation-continue-as-new` branch
 * keeps the runs recorded before it replaying, takes over a run that was open when it was
 * deployed at that run's next failed round, and a continued run replays from what it was handed.
 * (The history sets under histories/ hold no failed compensation round.)
 */
import fs from 'node:fs';
import path from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type { CompensationResume } from '../../src/saga/types';
import { workflowBundle } from '../support/temporal';
import { COMPENSATION_HISTORIES_DIR } from './record-compensation-histories';

jest.setTimeout(120_000);

beforeAll(() => Runtime.install({ logger: new DefaultLogger('WARN') }));

const NAMES = ['pre-patch-rounds', 'deployed-mid-compensation', 'continued-run'] as const;

function load(name: (typeof NAMES)[number]) {
  return historyFromJSON(JSON.parse(fs.readFileSync(path.join(COMPENSATION_HISTORIES_DIR, `${name}.json`), 'utf8')));
}

/** The run as a list: activities scheduled, timers, patch markers, how it ended. */
function outline(name: (typeof NAMES)[number]): string[] {
  return (load(name).events ?? []).flatMap((e) => {
    const marker = e.markerRecordedEventAttributes;
    if (marker?.markerName === 'core_patch') return [`patch ${JSON.parse(Buffer.from(marker.details!['patch-data']!.payloads![0]!.data!).toString()).id}`];
    if (e.activityTaskScheduledEventAttributes) return [e.activityTaskScheduledEventAttributes.activityType!.name!];
    if (e.timerStartedEventAttributes) return ['timer'];
    if (e.workflowExecutionContinuedAsNewEventAttributes) return ['continued as new'];
    if (e.workflowExecutionCompletedEventAttributes) return ['completed'];
    return [];
  });
}

test('the recorded runs: old code only; old code then the current code at the next failed round; the continued run', () => {
  const failedRound = ['refundCharge', 'timer'];
  expect(outline('pre-patch-rounds')).toEqual([
    'patch search-attributes-at-start', 'createCharge', 'createOrder', ...failedRound, ...failedRound, ...failedRound, 'refundCharge', 'completed',
  ]);
  expect(outline('deployed-mid-compensation')).toEqual([
    'patch search-attributes-at-start', 'createCharge', 'createOrder', ...failedRound, ...failedRound, ...failedRound,
    'patch compensation-continue-as-new', 'continued as new',
  ]);
  expect(outline('continued-run')).toEqual(['patch search-attributes-at-start', 'refundCharge', 'completed']);

  const started = load('continued-run').events![0]!.workflowExecutionStartedEventAttributes!;
  const resume = defaultPayloadConverter.fromPayload(started.input!.payloads![1]!) as CompensationResume;
  expect(resume).toMatchObject({ pending: ['charge.refund'], failedRounds: 3, previousRuns: 1, state: { status: 'compensating', compensationsFailing: true } });
});

test('each replays against the current workflow code', async () => {
  const histories = NAMES.map((name) => ({ workflowId: name, history: load(name) }));
  const outcomes: Record<string, string> = {};
  for await (const result of Worker.runReplayHistories({ workflowBundle: workflowBundle() }, histories)) {
    outcomes[result.workflowId] = result.error ? `${result.error.name}: ${result.error.message}` : 'ok';
  }
  expect(outcomes).toEqual(Object.fromEntries(NAMES.map((name) => [name, 'ok'])));
});
