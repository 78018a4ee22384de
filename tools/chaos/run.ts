/**
 * Drives a chaos run against a running system: submits the planned checkouts through the
 * checkout API like a real (impatient, retrying) client, SIGKILLs processes at the planned
 * moments and restarts them, waits until every checkout is terminal (bounded), then audits.
 *
 * The system is reached only through `ChaosTarget`, so the same run works on the jest stack
 * and on the stack `npm run chaos` starts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../../src/platform/config';
import { collectAuditInput } from '../audit/collect';
import { auditInvariants } from '../audit/invariants';
import type { AuditReport } from '../audit/types';
import { mapLimit } from '../support/concurrency';
import type { ProcessName } from '../dev/processes';
import { orderTotal } from '../../src/saga/money';
import { TERMINAL_STATUSES, type CheckoutStatus } from '../../src/saga/types';
import { EXPECTED_STATUS, medianAndMax, type KillEvent, type KillTarget, type PlannedCheckout } from './plan';

export interface ChaosTarget {
  /** The system's configuration (databases, Temporal, mailbox) for the audit. */
  config: Config;
  apiUrl: string;
  apiKey: string;
  kill9(name: ProcessName): Promise<void>;
  /** Starts a killed process again; `env` overrides (a fresh FAULTS_SEED). */
  restart(name: ProcessName, env?: Record<string, string>): Promise<void>;
  /** False while a process is dead (killed, or crashed on its own). */
  running(name: ProcessName): boolean;
  /** The last output of a process found dead, for the report of a death nobody planned. */
  lastWords(name: ProcessName): string;
  restartTemporal(): Promise<void>;
  /** Faults the services injected so far, by kind. */
  faultCounts(): Record<'before' | 'after' | 'delay', number>;
}

export interface ChaosRunOptions {
  /** Seeds the services' FAULTS_SEED after each restart (seed + n). */
  seed: number;
  concurrency: number;
  /** After the load, how long to wait for stragglers to reach a terminal state. */
  settleTimeoutMs: number;
  log?: (line: string) => void;
}

export interface CheckoutOutcome {
  planned: PlannedCheckout;
  checkoutId: string | null;
  status: CheckoutStatus | null;
  /** Requests that got no final answer (network error, 5xx, 409) and were sent again. */
  retries: number;
  /** Answers marked `Idempotent-Replayed: true`. */
  replays: number;
  /** Two answers for one key naming different checkouts: a second workflow (docs/api.md#idempotency forbids it). */
  divergent: boolean;
  /** A 4xx other than the expected ones for the same key (e.g. 422 for an identical body). */
  rejected: string | null;
}

export interface ChaosResult {
  outcomes: CheckoutOutcome[];
  kills: Partial<Record<KillTarget, number>>;
  /** Processes found dead without being killed by the run (and restarted). */
  unexpectedDeaths: Partial<Record<ProcessName, number>>;
  faults: Record<'before' | 'after' | 'delay', number>;
  audit: AuditReport;
  /** Workflow start → close of terminal checkouts. */
  completionMs: { median: number; max: number };
  durationMs: number;
}

const isTerminal = (s: string | null | undefined) => !!s && (TERMINAL_STATUSES as readonly string[]).includes(s);
const PROCESS_NAMES: readonly ProcessName[] = ['mailbox', 'payment', 'order', 'notification', 'worker', 'api'];

/** A client that never gives up on its own: retries anything that is not a final answer. */
class ApiClient {
  constructor(
    private readonly target: ChaosTarget,
    private readonly deadline: number,
  ) {}

  /** Sends until an answer that is final for the client: 2xx or a 4xx other than 409. */
  async send(
    method: 'GET' | 'POST',
    path: string,
    outcome: CheckoutOutcome,
    opts: { key?: string; body?: unknown } = {},
  ): Promise<{ status: number; body: Record<string, unknown>; replayed: boolean } | undefined> {
    for (let attempt = 0; Date.now() < this.deadline; attempt++) {
      if (attempt > 0) outcome.retries++;
      try {
        const res = await fetch(`${this.target.apiUrl}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${this.target.apiKey}`,
            ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
            ...(opts.key ? { 'idempotency-key': opts.key } : {}),
          },
          body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
          signal: AbortSignal.timeout(15_000),
        });
        const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
        if (res.status < 500 && res.status !== 409) {
          return { status: res.status, body, replayed: res.headers.get('idempotent-replayed') === 'true' };
        }
        const retryAfter = Number(res.headers.get('retry-after'));
        await sleep(Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter * 1000, 2_000) : backoff(attempt));
      } catch {
        await sleep(backoff(attempt)); // the API is down or the reply was lost: the same request again
      }
    }
    return undefined;
  }
}

const backoff = (attempt: number) => Math.min(2_000, 100 * 2 ** attempt) * (0.5 + Math.random() / 2);

/** One checkout, from the first request until it is terminal or `waitUntil` passes. */
async function driveCheckout(client: ApiClient, p: PlannedCheckout, waitUntil: number): Promise<CheckoutOutcome> {
  const outcome: CheckoutOutcome = { planned: p, checkoutId: null, status: null, retries: 0, replays: 0, divergent: false, rejected: null };
  const submit = async () => {
    const answer = await client.send('POST', '/checkouts', outcome, { key: p.idempotencyKey, body: p.body });
    if (!answer) return;
    if (answer.replayed) outcome.replays++;
    if (answer.status >= 400) {
      outcome.rejected = `POST /checkouts answered ${answer.status} ${String(answer.body.type ?? '')}`;
      return;
    }
    const id = String(answer.body.id);
    if (outcome.checkoutId && outcome.checkoutId !== id) outcome.divergent = true;
    outcome.checkoutId ??= id;
    outcome.status = answer.body.status as CheckoutStatus;
  };

  const copies = p.submission.kind === 'concurrent' ? p.submission.copies : 1;
  await Promise.all(Array.from({ length: copies }, submit));
  for (let i = 0; p.submission.kind === 'sequential' && i < p.submission.repeats; i++) await submit();

  for (let pause = 200; outcome.checkoutId && !isTerminal(outcome.status) && Date.now() < waitUntil; pause = Math.min(pause * 2, 2_000)) {
    await sleep(pause);
    const answer = await client.send('GET', `/checkouts/${outcome.checkoutId}`, outcome);
    if (answer?.status === 200) outcome.status = answer.body.status as CheckoutStatus;
  }

  if (p.refund && outcome.status === 'completed' && outcome.checkoutId) {
    // A merchant refund of a third, sent twice at once under one key: one payment refund.
    const amount = Math.max(1, Math.floor(orderTotal(p.body.items) / 3));
    const refund = () =>
      client.send('POST', `/checkouts/${outcome.checkoutId}/refunds`, outcome, { key: `${p.idempotencyKey}-refund`, body: { amount } });
    await Promise.all([refund(), refund()]);
  }
  return outcome;
}

/**
 * Fires each kill when enough checkouts have started; between events it also revives any
 * process that died on its own (counted apart: that is a finding, not part of the plan).
 */
class ChaosMonkey {
  readonly kills: Partial<Record<KillTarget, number>> = {};
  readonly unexpectedDeaths: Partial<Record<ProcessName, number>> = {};
  private started = 0;
  private restarts = 0;
  private busy: Promise<void> = Promise.resolve();
  private readonly pending: KillEvent[];

  constructor(
    private readonly target: ChaosTarget,
    events: KillEvent[],
    private readonly seed: number,
    private readonly log: (line: string) => void,
  ) {
    this.pending = [...events];
  }

  /** Called as each checkout starts. Kills run one at a time, in the background of the load. */
  checkoutStarted(): void {
    this.started++;
    while (this.pending[0] && this.pending[0].afterCheckouts <= this.started) {
      const event = this.pending.shift()!;
      this.busy = this.busy.then(() => this.fire(event)).catch((err: unknown) => this.log(`chaos: ${event.target} restart failed: ${String(err)}`));
    }
  }

  private async fire({ target, downMs }: KillEvent): Promise<void> {
    this.kills[target] = (this.kills[target] ?? 0) + 1;
    if (target === 'temporal') {
      this.log(`chaos: restarting the Temporal dev server (checkout ${this.started})`);
      await this.target.restartTemporal();
      return;
    }
    this.log(`chaos: kill -9 ${target} (checkout ${this.started}), down ${downMs} ms`);
    await this.target.kill9(target);
    await sleep(downMs);
    // A new seed per life, so a restarted service does not replay the same fault sequence.
    await this.target.restart(target, { FAULTS_SEED: String(this.seed + ++this.restarts) });
  }

  /** Queued behind kills in progress, so a process being killed on purpose never looks dead "on its own". */
  reviveDead(): Promise<void> {
    this.busy = this.busy.then(() => this.reviveNow());
    return this.busy;
  }

  private async reviveNow(): Promise<void> {
    for (const name of PROCESS_NAMES) {
      if (this.target.running(name)) continue;
      this.unexpectedDeaths[name] = (this.unexpectedDeaths[name] ?? 0) + 1;
      this.log(`chaos: ${name} died on its own; restarting it. Its last output:\n${this.target.lastWords(name)}`);
      await this.target.restart(name, { FAULTS_SEED: String(this.seed + ++this.restarts) }).catch((err: unknown) => this.log(String(err)));
    }
  }

  /** Waits for kills still in progress (and any left in the plan are dropped). */
  async finish(): Promise<void> {
    this.pending.length = 0;
    await this.reviveDead();
  }
}

export async function runChaos(
  target: ChaosTarget,
  plan: PlannedCheckout[],
  killPlan: KillEvent[],
  opts: ChaosRunOptions,
): Promise<ChaosResult> {
  const log = opts.log ?? (() => undefined);
  const started = Date.now();
  const monkey = new ChaosMonkey(target, killPlan, opts.seed, log);
  const hardDeadline = () => Date.now() + opts.settleTimeoutMs;
  const watchdog = setInterval(() => void monkey.reviveDead(), 5_000);

  let done = 0;
  try {
    // Each lane follows one checkout until it is terminal, or gives up on it after a while
    // (it is polled again below), so a stuck checkout never blocks a lane for the whole run.
    const outcomes = await mapLimit(plan, opts.concurrency, async (p) => {
      monkey.checkoutStarted();
      const client = new ApiClient(target, hardDeadline());
      const outcome = await driveCheckout(client, p, Date.now() + Math.min(60_000, opts.settleTimeoutMs));
      if (++done % 50 === 0) log(`chaos: ${done}/${plan.length} checkouts driven`);
      return outcome;
    });
    await monkey.finish();

    // Settle: every straggler is polled until terminal or the settle timeout.
    const settleBy = hardDeadline();
    const stragglers = outcomes.filter((o) => o.checkoutId && !isTerminal(o.status));
    log(`chaos: load done in ${((Date.now() - started) / 1000).toFixed(0)} s; waiting for ${stragglers.length} straggler(s)`);
    await mapLimit(stragglers, opts.concurrency, async (o) => {
      const client = new ApiClient(target, settleBy);
      for (let pause = 500; !isTerminal(o.status) && Date.now() < settleBy; pause = Math.min(pause * 2, 5_000)) {
        const answer = await client.send('GET', `/checkouts/${o.checkoutId}`, o);
        if (answer?.status === 200) o.status = answer.body.status as CheckoutStatus;
        if (!isTerminal(o.status)) await sleep(pause);
      }
    });

    // No restart may race the audit or the caller's stop(): the last revive is awaited here.
    clearInterval(watchdog);
    await monkey.reviveDead();

    const input = await collectAuditInput(target.config);
    const durations = input.checkouts.flatMap((c) => (isTerminal(c.status) && c.durationMs !== undefined ? [c.durationMs] : []));
    const audit = auditInvariants(input);
    return {
      outcomes,
      kills: monkey.kills,
      unexpectedDeaths: monkey.unexpectedDeaths,
      faults: target.faultCounts(),
      audit,
      completionMs: medianAndMax(durations),
      durationMs: Date.now() - started,
    };
  } finally {
    clearInterval(watchdog);
  }
}

/** Checkouts whose final status differs from what their trigger predicts (informational). */
export function unexpectedOutcomes(outcomes: CheckoutOutcome[]): CheckoutOutcome[] {
  return outcomes.filter((o) => isTerminal(o.status) && o.status !== EXPECTED_STATUS[o.planned.scenario]);
}
