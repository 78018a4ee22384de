/** The one summary table a chaos run prints (pure: result in, text out). */
import { formatTable, type Cell } from '../support/table';
import { SCENARIOS } from './plan';
import { unexpectedOutcomes, type ChaosResult, type LatencyStats, type OutageReport, type RefundBurstReport } from './run';

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const percent = (share: number) => `${Math.round(share * 100)} %`;
const p50p95 = (l: LatencyStats) => `p50 ${seconds(l.p50Ms)}, p95 ${seconds(l.p95Ms)}`;

function outageCell(o: OutageReport): string {
  const a = o.answers;
  const ready = o.readyAt === null ? `NOT ready after 60 s: ${o.notReady.join(', ')}` : `every process ready ${seconds(o.readyAt - o.up)} after`;
  const running = o.notRunning.length ? `; not running: ${o.notRunning.join(', ')}` : ', none restarted';
  return (
    `unavailable ${seconds(o.up - o.stopping)} under load (stopping ${seconds(o.down - o.stopping)}, no server ${seconds(o.starting - o.down)}, starting ${seconds(o.up - o.starting)}); ` +
    `${a.total} answers meanwhile: ${a.success} success, ${a.retryLater} 503 + Retry-After, ${a.other} other; ${ready}${running}`
  );
}

function refundBurstCell(r: RefundBurstReport): string {
  const answers = Object.entries(r.answers)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([status, n]) => `${status} ×${n}`)
    .join(', ');
  return (
    `${r.requests} requests (${r.keys} refund keys sent ${r.keys ? ((r.requests - r.unknown) / r.keys).toFixed(1) : 0}× each, ${r.unknown} for unknown checkouts): ` +
    `${answers}; unexpected ${r.unexpected.length}, two refunds for one key ${r.divergentKeys}, unsettled ${r.unsettled}`
  );
}
const list = (counts: Partial<Record<string, number>>) =>
  Object.entries(counts)
    .filter(([, n]) => n)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ') || 'none';

export function chaosSummaryRows(r: ChaosResult): Cell[][] {
  const o = r.outcomes;
  const count = (f: (x: (typeof o)[number]) => boolean) => o.filter(f).length;
  const duplicates = o.reduce(
    (n, x) => n + (x.planned.submission.kind === 'sequential' ? x.planned.submission.repeats : x.planned.submission.kind === 'concurrent' ? x.planned.submission.copies - 1 : 0),
    0,
  );
  const invariant = (id: string) => r.audit.invariants.find((i) => i.id === id)?.violations ?? 0;
  const totalFaults = r.faults.before + r.faults.after + r.faults.delay;
  const unexpected = unexpectedOutcomes(o);
  const burst = count((x) => x.phase === 'burst');
  const l = r.latency;
  const f = r.answers.findings;
  return [
    ['checkouts', `${o.length} (${o.length - burst} in the load at ${l.loadAll.concurrency} clients${l.burst ? `, ${burst} in the burst at ${l.burst.concurrency}` : ''})`],
    [
      '  completed / failed / terminated / not terminal',
      `${count((x) => x.status === 'completed')} / ${count((x) => x.status === 'failed')} / ${count((x) => x.status === 'terminated')} / ${count((x) => x.status !== 'completed' && x.status !== 'failed' && x.status !== 'terminated')}`,
    ],
    ['  by trigger', SCENARIOS.map((s) => `${s} ${count((x) => x.planned.scenario === s)}`).join(', ')],
    ['  outcome other than the trigger predicts', unexpected.length ? `${unexpected.length} (${list(Object.fromEntries(SCENARIOS.map((s) => [s, unexpected.filter((x) => x.planned.scenario === s).length])))})` : '0'],
    ['duplicate submissions (same key, same body)', `${duplicates} (${count((x) => x.planned.submission.kind === 'sequential')} checkouts resubmitted, ${count((x) => x.planned.submission.kind === 'concurrent')} sent concurrently)`],
    ['  answers replayed / client retries', `${o.reduce((n, x) => n + x.replays, 0)} / ${o.reduce((n, x) => n + x.retries, 0)}`],
    ['  two checkouts for one key / rejected', `${count((x) => x.divergent)} / ${count((x) => x.rejected !== null)}`],
    ['merchant refunds asked (twice each, concurrently)', String(count((x) => x.planned.refund && x.status === 'completed'))],
    [`Prefer: wait checkout at ${l.load.concurrency} clients`, `${p50p95(l.load)} (${l.load.checkouts} clear of kills and outage; all ${l.loadAll.checkouts}: ${p50p95(l.loadAll)})`],
    ...(l.burst ? [[`Prefer: wait checkout at ${l.burst.concurrency} clients (burst)`, `${p50p95(l.burst)} (${l.burst.checkouts} checkouts; up to ${r.peakWaits.burst} waits in flight)`]] : []),
    ['  final answer within the wait', `${percent(l.loadAll.finalInWait)} at ${l.loadAll.concurrency}${l.burst ? `, ${percent(l.burst.finalInWait)} at ${l.burst.concurrency}` : ''}`],
    ...(r.refundBurst ? [['refund burst (all at once, during the burst)', refundBurstCell(r.refundBurst)]] : []),
    ...r.outages.map((x) => ['Postgres outage', outageCell(x)]),
    ['500s / 503 without Retry-After / hangs / 409 to a duplicate', `${f.serverErrors} / ${f.unavailableWithoutRetryAfter} / ${f.hangs} / ${f.duplicateConflicts} (of ${r.answers.total} answers; ${r.answers.connectionErrors} connection errors)`],
    ...(Object.keys(r.answers.byReplica ?? {}).length > 1 ? [['requests by API replica', list(r.answers.byReplica!)]] : []),
    ['faults injected', `${totalFaults} (before ${r.faults.before}, after ${r.faults.after}, delay ${r.faults.delay})`],
    ['kills (SIGKILL + restart)', list(r.kills)],
    ['processes that died on their own', list(r.unexpectedDeaths)],
    ...(r.restartFailures?.length ? [['planned kills or restarts that failed', String(r.restartFailures.length)]] : []),
    ['orphan effects', String(invariant('no-orphans'))],
    ['stuck checkouts', String(invariant('not-stuck'))],
    ['phantom charge+refund (or order+cancel) pairs', `${invariant('no-phantom')} of ${r.audit.invariants.find((i) => i.id === 'no-phantom')?.checked ?? 0} failed checkouts judged`],
    ['completion time (workflow start → close)', `median ${seconds(r.completionMs.median)}, max ${seconds(r.completionMs.max)}`],
    ['audit violations', String(r.audit.violations.length)],
    ['findings besides the audit (all of the above that must be 0)', String(chaosFindings(r))],
    ['main load throughput', `${o.length - burst} checkouts in ${seconds(r.loadMs)}: ${((o.length - burst) / (r.loadMs / 1000)).toFixed(2)} checkouts/s at ${l.loadAll.concurrency} clients (kills and restarts included)`],
    ['run time', seconds(r.durationMs)],
  ];
}

/**
 * Everything the run saw that the audit does not judge and nothing explains: wrong answers (500,
 * 503 without Retry-After, hang, 409 to a duplicate, a wrong refund answer, two checkouts or two
 * refunds for one key, a rejected resubmission), an outage answered otherwise than success or
 * 503 + Retry-After, a process that did not recover from it or died on its own.
 */
export function chaosFindings(r: ChaosResult): number {
  const f = r.answers.findings;
  const deaths = Object.values(r.unexpectedDeaths).reduce((a, b) => a + (b ?? 0), 0);
  return (
    f.serverErrors +
    f.unavailableWithoutRetryAfter +
    f.hangs +
    f.duplicateConflicts +
    r.outcomes.filter((o) => o.divergent || o.rejected).length +
    r.outages.reduce((n, o) => n + o.answers.other + o.notReady.length + o.notRunning.length, 0) +
    (r.refundBurst ? r.refundBurst.unexpected.length + r.refundBurst.divergentKeys + r.refundBurst.unsettled : 0) +
    deaths +
    (r.restartFailures?.length ?? 0)
  );
}

/** What each finding of the table was, first few of each kind. */
export function chaosFindingLines(r: ChaosResult): string[] {
  return [
    ...r.answers.findings.examples.map((e) => `answer: ${e}`),
    ...r.outages.flatMap((o) => o.answers.otherExamples.map((e) => `during the Postgres outage: ${e}`)),
    ...(r.refundBurst?.unexpected.slice(0, 5).map((e) => `refund burst: ${e}`) ?? []),
    ...(r.restartFailures ?? []).slice(0, 5).map((e) => `restart failed: ${e}`),
  ];
}

export function formatChaosSummary(r: ChaosResult): string {
  const findings = chaosFindingLines(r);
  // Informational: a happy checkout that failed (a service down longer than the forward steps retry, say).
  const unexpected = unexpectedOutcomes(r.outcomes).map((o) => `${o.planned.scenario} ${o.checkoutId} (${o.phase}) ended ${o.status}: ${o.failure ?? 'no failure shown'}`);
  return [
    formatTable(['chaos run', 'value'], chaosSummaryRows(r)),
    ...(findings.length ? ['', 'findings:', ...findings.map((l) => `  ${l}`)] : []),
    ...(unexpected.length ? ['', 'outcomes other than the trigger predicts:', ...unexpected.slice(0, 10).map((l) => `  ${l}`)] : []),
  ].join('\n');
}
