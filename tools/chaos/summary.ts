/** The one summary table a chaos run prints (pure: result in, text out). */
import { formatTable, type Cell } from '../support/table';
import { SCENARIOS } from './plan';
import { unexpectedOutcomes, type ChaosResult } from './run';

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
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
  return [
    ['checkouts', String(o.length)],
    ['  completed / failed / not terminal', `${count((x) => x.status === 'completed')} / ${count((x) => x.status === 'failed')} / ${count((x) => x.status !== 'completed' && x.status !== 'failed')}`],
    ['  by trigger', SCENARIOS.map((s) => `${s} ${count((x) => x.planned.scenario === s)}`).join(', ')],
    ['  outcome other than the trigger predicts', unexpected.length ? `${unexpected.length} (${list(Object.fromEntries(SCENARIOS.map((s) => [s, unexpected.filter((x) => x.planned.scenario === s).length])))})` : '0'],
    ['duplicate submissions (same key, same body)', `${duplicates} (${count((x) => x.planned.submission.kind === 'sequential')} checkouts resubmitted, ${count((x) => x.planned.submission.kind === 'concurrent')} sent concurrently)`],
    ['  answers replayed / client retries', `${o.reduce((n, x) => n + x.replays, 0)} / ${o.reduce((n, x) => n + x.retries, 0)}`],
    ['  two checkouts for one key / rejected', `${count((x) => x.divergent)} / ${count((x) => x.rejected !== null)}`],
    ['merchant refunds asked (twice each, concurrently)', String(count((x) => x.planned.refund && x.status === 'completed'))],
    ['faults injected', `${totalFaults} (before ${r.faults.before}, after ${r.faults.after}, delay ${r.faults.delay})`],
    ['kills (SIGKILL + restart)', list(r.kills)],
    ['processes that died on their own', list(r.unexpectedDeaths)],
    ['orphan effects', String(invariant('no-orphans'))],
    ['stuck checkouts', String(invariant('not-stuck'))],
    ['phantom charge+refund (or order+cancel) pairs', `${invariant('no-phantom')} of ${r.audit.invariants.find((i) => i.id === 'no-phantom')?.checked ?? 0} failed checkouts judged`],
    ['completion time (workflow start → close)', `median ${seconds(r.completionMs.median)}, max ${seconds(r.completionMs.max)}`],
    ['audit violations', String(r.audit.violations.length)],
    ['run time', seconds(r.durationMs)],
  ];
}

export function formatChaosSummary(r: ChaosResult): string {
  return formatTable(['chaos run', 'value'], chaosSummaryRows(r));
}
