/**
 * Replay tests: the recorded histories of real runs (`npm run histories:record`, see
 * docs/replay.md) against the workflow code as it is now. A change that would break a run
 * already in flight — a command added, removed or reordered without `patched()` — fails here,
 * in CI, instead of as a stuck workflow task in production.
 *
 * Every set under histories/ is replayed: v1 was recorded before the `patched()` change in
 * src/workflows/checkout.ts and takes the old branch, v2 after it and takes the new one.
 * No server is needed; the harness's is simply not used.
 */
import fs from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { HISTORIES_DIR, SCENARIO_NAMES } from '../../tools/replay/record-histories';
import { workflowBundle } from '../support/temporal';

jest.setTimeout(120_000);

// Each replay starts and drains a worker; its INFO lines would bury the one failure that matters.
beforeAll(() => Runtime.install({ logger: new DefaultLogger('WARN') }));

const SETS = fs.readdirSync(HISTORIES_DIR).filter((d) => fs.statSync(path.join(HISTORIES_DIR, d)).isDirectory()).sort();

function loadHistory(set: string, scenario: string) {
  return historyFromJSON(JSON.parse(fs.readFileSync(path.join(HISTORIES_DIR, set, `${scenario}.json`), 'utf8')));
}

test('every set holds every scenario, from before and after the patched() change', () => {
  expect(SETS).toEqual(expect.arrayContaining(['v1', 'v2']));
  for (const set of SETS) {
    const files = fs.readdirSync(path.join(HISTORIES_DIR, set)).map((f) => path.basename(f, '.json'));
    expect({ set, scenarios: files.sort() }).toEqual({ set, scenarios: [...SCENARIO_NAMES].sort() });
  }
});

test('v1 predates the patched() change and v2 carries it, so both branches are replayed', () => {
  // patched() records a `core_patch` marker whose payload is `{"id": <patch id>, …}`.
  const patchIds = (set: string) =>
    (loadHistory(set, 'success').events ?? [])
      .map((e) => e.markerRecordedEventAttributes)
      .filter((m) => m?.markerName === 'core_patch')
      .map((m) => JSON.parse(Buffer.from(m!.details!['patch-data']!.payloads![0]!.data!).toString()).id);
  expect({ v1: patchIds('v1'), v2: patchIds('v2') }).toEqual({ v1: [], v2: ['bounded-delivery-wait'] });
});

test("v2's cancellation reconciles by re-issuing the order, v3's by the fenced lookup, so both branches are replayed", () => {
  const patchesAndActivities = (set: string) =>
    (loadHistory(set, 'cancellation').events ?? []).flatMap((e) => {
      const marker = e.markerRecordedEventAttributes;
      if (marker?.markerName === 'core_patch') return [JSON.parse(Buffer.from(marker.details!['patch-data']!.payloads![0]!.data!).toString()).id];
      const activity = e.activityTaskScheduledEventAttributes?.activityType?.name;
      return activity ? [activity] : [];
    });
  expect(patchesAndActivities('v2')).toEqual(['createCharge', 'createOrder', 'createOrder', 'cancelOrder', 'refundCharge']);
  expect(patchesAndActivities('v3')).toEqual(['createCharge', 'createOrder', 'fenced-lookup', 'lookupOrder', 'cancelOrder', 'refundCharge']);
});

test('every recorded history replays against the current workflows, with one bundle', async () => {
  const histories = SETS.flatMap((set) =>
    SCENARIO_NAMES.map((scenario) => ({ workflowId: `${set}/${scenario}`, history: loadHistory(set, scenario) })),
  );
  const outcomes: Record<string, string> = {};
  for await (const result of Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories)) {
    outcomes[result.workflowId] = result.error ? `${result.error.name}: ${result.error.message}` : 'ok';
  }
  // Compared as a whole so that a failure names every history that broke, not just the first.
  expect(outcomes).toEqual(Object.fromEntries(histories.map((h) => [h.workflowId, 'ok'])));
});

test('a non-deterministic edit (order before charge) is caught as a DeterminismViolationError', async () => {
  const altered = await bundleWorkflowCode({
    workflowsPath: require.resolve('./fixtures/altered-workflows'),
    logger: new DefaultLogger('ERROR'),
  });
  const replay = Worker.runReplayHistory({ workflowBundle: altered }, loadHistory('v1', 'success'));
  await expect(replay).rejects.toBeInstanceOf(DeterminismViolationError);
  await expect(replay).rejects.toThrow(/createCharge|createOrder/);
});
