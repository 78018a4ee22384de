/**
 * Drives a chaos run against a running system: submits the planned checkouts through the
 * checkout API like a real (impatient, retrying) client that asks to wait for the result
 * (`Prefer: wait`), SIGKILLs processes at the planned moments and restarts them, takes Postgres
 * away for a few seconds under load, then runs a burst at high concurrency (checkouts waiting on
 * their result, and refund requests all at once); waits until every checkout is terminal
 * (bounded), then audits.
 *
 * Every answer the API gives is recorded: a 500, a 503 without Retry-After, a 409 for a duplicate
 * or a request left without an answer past its bound is a finding, whenever it happens.
 *
 * The system is reached only through `ChaosTarget`, so the same run works on the jest stack
 * and on the stack `npm run chaos` starts.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../../src/platform/config';
import { collectAuditInput } from '../audit/collect';
import { auditInvariants } from '../audit/invariants';
import type { AuditReport } from '../audit/types';
import { mapLimit } from '../support/concurrency';
import type { ProcessName, ProcessSpec } from '../dev/processes';
import { orderTotal } from '../../src/saga/money';
import type { CheckoutStatus } from '../../src/saga/types';
import {
  EXPECTED_STATUS,
  medianAndMax,
  percentile,
  planCheckouts,
  planRefundBurst,
  type KillEvent,
  type PlannedCheckout,
  type RefundBurstRequest,
} from './plan';

/** When Postgres was stopped and started again (epoch ms). */
export interface OutageTimes {
  /** The stop was asked for. */
  stopping: number;
  /** The server had exited. */
  down: number;
  /** The start was asked for. */
  starting: number;
  /** The server accepted connections again. */
  up: number;
}

/** An application process of the target: one of PROCESSES, or a replica (`worker-2`, `api-1`) on the cluster. */
export type TargetProcess = ProcessSpec['name'];

/** Temporal's own parts on the cluster topology, restarted (stopped, started again) by a chaos run. */
export const INFRA_TARGETS = ['temporal-frontend', 'temporal-history', 'temporal-matching', 'temporal-worker', 'temporal-postgres'] as const;
export type InfraTarget = (typeof INFRA_TARGETS)[number];

export interface ChaosTarget {
  /** The system's configuration (databases, Temporal, mailbox) for the audit. */
  config: Config;
  apiUrl: string;
  /** Every API replica: the clients spread their requests over them (round robin, per request); default [apiUrl]. */
  apiUrls?: string[];
  apiKey: string;
  /** The application processes the run watches (revives if dead); default the six of PROCESSES. */
  processNames?: readonly TargetProcess[];
  kill9(name: TargetProcess): Promise<void>;
  /** Starts a killed process again; `env` overrides (a fresh FAULTS_SEED). */
  restart(name: TargetProcess, env?: Record<string, string>): Promise<void>;
  /** False while a process is dead (killed, or crashed on its own). */
  running(name: TargetProcess): boolean;
  /** The last output of a process found dead, for the report of a death nobody planned. */
  lastWords(name: TargetProcess): string;
  restartTemporal(): Promise<void>;
  /**
   * The cluster topology: stops one of Temporal's services (or its Postgres), keeps it down for
   * `downMs`, starts it again and resolves once it is back. Absent on the dev server.
   */
  restartInfra?(what: InfraTarget, downMs: number): Promise<void>;
  /**
   * The system's Postgres: stop() resolves once the server has exited, start() once it accepts
   * connections again on the same data and port; no other process is touched. Absent when the
   * target cannot stop it (a Postgres shared with others).
   */
  postgres?: { stop(): Promise<void>; start(): Promise<void> };
  /** `GET /healthz` of every process that has one: after an outage each must be ready again by itself. */
  healthUrls: Record<string, string>;
  /** Faults the services injected so far, by kind. */
  faultCounts(): Record<'before' | 'after' | 'delay', number>;
}

export interface BurstOptions {
  /** Checkouts of the burst (their own keys: planCheckouts with a keyPrefix). */
  plan: PlannedCheckout[];
  /** Clients at once, each waiting on its checkout with `Prefer: wait`. */
  concurrency: number;
  /** Refund requests sent all at once while the burst's waits are in flight (0: none). */
  refundRequests: number;
}

export interface ChaosRunOptions {
  /** Seeds the services' FAULTS_SEED after each restart (seed + n), and the refund burst. */
  seed: number;
  concurrency: number;
  /** After the load, how long to wait for stragglers to reach a terminal state. */
  settleTimeoutMs: number;
  /** `Prefer: wait=N` on every checkout request (default 30, the API's maximum); 0: none, poll instead. */
  preferWaitSeconds?: number;
  /** A high-concurrency phase after the main load (no kills during it). */
  burst?: BurstOptions;
  log?: (line: string) => void;
}

export type Phase = 'load' | 'burst';

export interface CheckoutOutcome {
  planned: PlannedCheckout;
  phase: Phase;
  checkoutId: string | null;
  status: CheckoutStatus | 'terminated' | null;
  /** Requests that got no final answer (network error, 5xx, 409 in use) and were sent again. */
  retries: number;
  /** Answers marked `Idempotent-Replayed: true`. */
  replays: number;
  /** Two answers for one key naming different checkouts: a second workflow (docs/api.md#idempotency forbids it). */
  divergent: boolean;
  /** A 4xx other than the expected ones for the same key (e.g. 422 for an identical body). */
  rejected: string | null;
  /** When its first request was sent (epoch ms). */
  startedAt: number;
  /** First request → the first answer showing a final status; null while none has. */
  latencyMs: number | null;
  /** That answer was a POST's (the `Prefer: wait` covered the whole checkout), not a later GET's. */
  finalInWait: boolean;
  /** The final answer's `failure` (code: message), for a checkout that failed. */
  failure: string | null;
}

export type Route = 'POST /checkouts' | 'GET /checkouts/{id}' | 'POST /checkouts/{id}/refunds' | 'GET /checkouts/{id}/refunds/{refundId}';

/** One answer of the API to the run's clients, or what happened instead of one. */
export interface ApiAnswer {
  route: Route;
  /** Sent at (epoch ms). */
  at: number;
  /** Until the answer, or the failure. */
  ms: number;
  status: number | 'no answer in time' | 'connection error';
  retryAfter: string | null;
  /** The API replica asked (its base URL). */
  replica?: string;
  /** The last segment of a problem answer's `type`. */
  problem?: string;
}

/** Answers nothing may explain: each one is a bug in the system under test. */
export interface AnswerFindings {
  /** 5xx other than 503: a failure the server did not expect (500 internal included). */
  serverErrors: number;
  /** 503 without Retry-After: the client is not told when to come back. */
  unavailableWithoutRetryAfter: number;
  /** No answer within the route's bound (its own wait plus HANG_MARGIN_MS). */
  hangs: number;
  /** 409 idempotency-key-in-use: a duplicate must get the checkout, never a conflict. */
  duplicateConflicts: number;
  /** The first few of them, for the report. */
  examples: string[];
}

export interface OutageReport extends OutageTimes {
  /** When every process answered `/healthz` 200 again (epoch ms); null if one did not within 60 s. */
  readyAt: number | null;
  notReady: string[];
  /** Processes not running once it was over (they must not need a restart). */
  notRunning: TargetProcess[];
  /** The API's answers to requests in flight at any time during [stopping, up]. */
  answers: { total: number; success: number; retryLater: number; other: number; otherExamples: string[] };
}

export interface LatencyStats {
  /** Clients at once. */
  concurrency: number;
  /** Checkouts the figures are over. */
  checkouts: number;
  p50Ms: number;
  p95Ms: number;
  /** Share of them whose POST itself answered with the final status. */
  finalInWait: number;
}

export interface RefundBurstReport {
  requests: number;
  /** Distinct refund keys of known checkouts (each sent several times at once). */
  keys: number;
  /** Requests for checkouts that do not exist. */
  unknown: number;
  /** Final answers by status ('none': no answer before the deadline). */
  answers: Record<string, number>;
  /** Answers other than 201/202 for a known checkout and 404 for an unknown one. */
  unexpected: string[];
  /** Keys whose answers named two refunds. */
  divergentKeys: number;
  /** Keys whose refund was still pending when the run stopped waiting. */
  unsettled: number;
}

export interface ChaosResult {
  outcomes: CheckoutOutcome[];
  /** By target (KillTarget). */
  kills: Record<string, number>;
  /** Processes found dead without being killed by the run (and restarted). */
  unexpectedDeaths: Record<string, number>;
  faults: Record<'before' | 'after' | 'delay', number>;
  audit: AuditReport;
  /** Workflow start → close of terminal checkouts. */
  completionMs: { median: number; max: number };
  /** A `Prefer: wait` checkout, request → final answer. */
  latency: {
    /** The main load, checkouts whose life overlapped no kill, restart or outage. */
    load: LatencyStats;
    /** The main load, all of them. */
    loadAll: LatencyStats;
    burst: LatencyStats | null;
  };
  /** Most `Prefer: wait` checkout requests in flight at once, per phase. */
  peakWaits: Record<Phase, number>;
  answers: { total: number; connectionErrors: number; findings: AnswerFindings; byReplica?: Record<string, number> };
  outages: OutageReport[];
  refundBurst: RefundBurstReport | null;
  /** Planned kills and restarts that failed (the process or Temporal part did not come back): findings. */
  restartFailures?: string[];
  /** The main load, first checkout started → last one driven (its lanes' checkouts terminal or given up on). */
  loadMs: number;
  durationMs: number;
}

/** Final for the client: the API shows `terminated` for a run ended from outside. */
const FINAL: readonly string[] = ['completed', 'failed', 'terminated'];
const isTerminal = (s: string | null | undefined) => !!s && FINAL.includes(s);
const PROCESS_NAMES: readonly ProcessName[] = ['mailbox', 'payment', 'order', 'notification', 'worker', 'api'];
const processNamesOf = (target: ChaosTarget) => target.processNames ?? PROCESS_NAMES;

/** Past its own wait, how long a request may go unanswered before it counts as a hang. */
export const HANG_MARGIN_MS = 15_000;
/** How long the API waits for a refund's result before answering 202 (REFUND_WAIT_MS in the API). */
const API_REFUND_WAIT_MS = 10_000;

const problemOf = (body: Record<string, unknown>) => (typeof body.type === 'string' ? body.type.split('/').pop() : undefined);
const hasRetryAfter = (a: ApiAnswer) => a.retryAfter !== null && a.retryAfter.trim() !== '';
const describeAnswer = (a: ApiAnswer) =>
  `${a.route} → ${a.status}${a.problem ? ` ${a.problem}` : ''}${a.retryAfter ? ` (Retry-After ${a.retryAfter})` : ''} after ${a.ms} ms, at ${new Date(a.at).toISOString()}`;

/** The API's answers and how many `Prefer: wait` requests are in flight. */
class Traffic {
  readonly answers: ApiAnswer[] = [];
  waitsInFlight = 0;
  peakWaits = 0;

  waitStarted(): void {
    this.peakWaits = Math.max(this.peakWaits, ++this.waitsInFlight);
  }

  waitEnded(): void {
    this.waitsInFlight--;
  }
}

interface SendOptions {
  key?: string;
  body?: unknown;
  /** `Prefer: wait=N` (POST /checkouts only). */
  waitSeconds?: number;
}

type Sent =
  | { ok: true; status: number; body: Record<string, unknown>; replayed: boolean; retryAfter: string | null; final: boolean }
  | { ok: false };

/** A client that never gives up on its own: retries anything that is not a final answer. */
class ApiClient {
  private static sent = 0;

  constructor(
    private readonly target: ChaosTarget,
    private readonly traffic: Traffic,
    private readonly deadline: number,
  ) {}

  /** One request, recorded; `final` for an answer the client takes: 2xx or a 4xx other than 409 in use. */
  async once(route: Route, method: 'GET' | 'POST', path: string, opts: SendOptions = {}): Promise<Sent> {
    const waiting = route === 'POST /checkouts' && !!opts.waitSeconds;
    const boundMs = HANG_MARGIN_MS + (waiting ? opts.waitSeconds! * 1000 : route === 'POST /checkouts/{id}/refunds' ? API_REFUND_WAIT_MS : 0);
    const at = Date.now();
    const urls = this.target.apiUrls?.length ? this.target.apiUrls : [this.target.apiUrl];
    const replica = urls[ApiClient.sent++ % urls.length]!;
    if (waiting) this.traffic.waitStarted();
    try {
      const res = await fetch(`${replica}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.target.apiKey}`,
          ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(opts.key ? { 'idempotency-key': opts.key } : {}),
          ...(waiting ? { prefer: `wait=${opts.waitSeconds}` } : {}),
        },
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: AbortSignal.timeout(boundMs),
      });
      const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
      const answer: ApiAnswer = { route, at, ms: Date.now() - at, status: res.status, retryAfter: res.headers.get('retry-after'), replica, problem: problemOf(body) };
      this.traffic.answers.push(answer);
      const final = res.status < 500 && !(res.status === 409 && answer.problem === 'idempotency-key-in-use');
      return { ok: true, status: res.status, body, replayed: res.headers.get('idempotent-replayed') === 'true', retryAfter: answer.retryAfter, final };
    } catch (err) {
      // The API is down, the reply was lost, or none came in time.
      const status = (err as Error).name === 'TimeoutError' ? 'no answer in time' : 'connection error';
      this.traffic.answers.push({ route, at, ms: Date.now() - at, status, retryAfter: null, replica });
      return { ok: false };
    } finally {
      if (waiting) this.traffic.waitEnded();
    }
  }

  /** Sends until a final answer (see `once`), honouring Retry-After; undefined if the deadline passes first. */
  async send(
    route: Route,
    method: 'GET' | 'POST',
    path: string,
    counter: { retries: number },
    opts: SendOptions = {},
  ): Promise<{ status: number; body: Record<string, unknown>; replayed: boolean } | undefined> {
    for (let attempt = 0; Date.now() < this.deadline; attempt++) {
      if (attempt > 0) counter.retries++;
      const sent = await this.once(route, method, path, opts);
      if (sent.ok && sent.final) return { status: sent.status, body: sent.body, replayed: sent.replayed };
      const retryAfter = Number(sent.ok ? sent.retryAfter : NaN);
      await sleep(Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter * 1000, 2_000) : backoff(attempt));
    }
    return undefined;
  }
}

const backoff = (attempt: number) => Math.min(2_000, 100 * 2 ** attempt) * (0.5 + Math.random() / 2);

function newOutcome(p: PlannedCheckout, phase: Phase): CheckoutOutcome {
  return {
    planned: p,
    phase,
    checkoutId: null,
    status: null,
    retries: 0,
    replays: 0,
    divergent: false,
    rejected: null,
    startedAt: Date.now(),
    latencyMs: null,
    finalInWait: false,
    failure: null,
  };
}

/** Takes the checkout as an answer showed it; the first final status fixes the checkout's latency. */
function observe(outcome: CheckoutOutcome, body: Record<string, unknown>, fromPost: boolean): void {
  const status = body.status as CheckoutOutcome['status'];
  if (isTerminal(outcome.status) && !isTerminal(status)) return; // a slower copy's older view
  outcome.status = status;
  const failure = body.failure as { code?: string; message?: string } | null | undefined;
  if (failure) outcome.failure = `${failure.code ?? '?'}: ${failure.message ?? ''}`;
  if (isTerminal(status) && outcome.latencyMs === null) {
    outcome.latencyMs = Date.now() - outcome.startedAt;
    outcome.finalInWait = fromPost;
  }
}

/** One checkout, from the first request until it is terminal or `waitUntil` passes. */
async function driveCheckout(client: ApiClient, outcome: CheckoutOutcome, waitUntil: number, waitSeconds: number): Promise<CheckoutOutcome> {
  const p = outcome.planned;
  const submit = async () => {
    const answer = await client.send('POST /checkouts', 'POST', '/checkouts', outcome, { key: p.idempotencyKey, body: p.body, waitSeconds });
    if (!answer) return;
    if (answer.replayed) outcome.replays++;
    if (answer.status >= 400) {
      outcome.rejected = `POST /checkouts answered ${answer.status} ${String(answer.body.type ?? '')}`;
      return;
    }
    const id = String(answer.body.id);
    if (outcome.checkoutId && outcome.checkoutId !== id) outcome.divergent = true;
    outcome.checkoutId ??= id;
    observe(outcome, answer.body, true);
  };

  const copies = p.submission.kind === 'concurrent' ? p.submission.copies : 1;
  await Promise.all(Array.from({ length: copies }, submit));
  for (let i = 0; p.submission.kind === 'sequential' && i < p.submission.repeats; i++) await submit();

  for (let pause = 200; outcome.checkoutId && !isTerminal(outcome.status) && Date.now() < waitUntil; pause = Math.min(pause * 2, 2_000)) {
    await sleep(pause);
    const answer = await client.send('GET /checkouts/{id}', 'GET', `/checkouts/${outcome.checkoutId}`, outcome);
    if (answer?.status === 200) observe(outcome, answer.body, false);
  }

  if (p.refund && outcome.status === 'completed' && outcome.checkoutId) {
    // A merchant refund of a third, sent twice at once under one key: one payment refund.
    const amount = Math.max(1, Math.floor(orderTotal(p.body.items) / 3));
    const refund = () =>
      client.send('POST /checkouts/{id}/refunds', 'POST', `/checkouts/${outcome.checkoutId}/refunds`, outcome, {
        key: `${p.idempotencyKey}-refund`,
        body: { amount },
      });
    await Promise.all([refund(), refund()]);
  }
  return outcome;
}

/** Polls every URL until each answers 200; when that was, or which did not within `timeoutMs`. */
async function untilReady(urls: string[], timeoutMs: number): Promise<{ at: number | null; notReady: string[] }> {
  const deadline = Date.now() + timeoutMs;
  let notReady = [...urls];
  while (notReady.length && Date.now() < deadline) {
    const ready = await Promise.all(notReady.map((u) => fetch(u, { signal: AbortSignal.timeout(2_000) }).then((r) => r.ok, () => false)));
    notReady = notReady.filter((_, i) => !ready[i]);
    if (notReady.length) await sleep(100);
  }
  return { at: notReady.length ? null : Date.now(), notReady };
}

interface Disturbance {
  target: string;
  from: number;
  to: number;
}

/**
 * Fires each kill (or the Postgres outage) when enough checkouts have started; between events
 * it also revives any process that died on its own (counted apart: that is a finding, not part
 * of the plan). Remembers when each event disturbed the system.
 */
class ChaosMonkey {
  readonly kills: Record<string, number> = {};
  readonly unexpectedDeaths: Record<string, number> = {};
  readonly disturbances: Disturbance[] = [];
  readonly outages: Omit<OutageReport, 'answers'>[] = [];
  /** Planned events that failed (a process or Temporal part that did not come back), as said. */
  readonly failures: string[] = [];
  private started = 0;
  private restarts = 0;
  private busy: Promise<void> = Promise.resolve();
  private readonly pending: KillEvent[];

  constructor(
    private readonly target: ChaosTarget,
    events: KillEvent[],
    private readonly seed: number,
    private readonly log: (line: string) => void,
    /** Requests sent while Postgres is down, until the given time. */
    private readonly probe?: (until: number) => Promise<void>,
  ) {
    this.pending = [...events];
  }

  /** Called as each checkout starts. Kills run one at a time, in the background of the load. */
  checkoutStarted(): void {
    this.started++;
    while (this.pending[0] && this.pending[0].afterCheckouts <= this.started) {
      const event = this.pending.shift()!;
      this.busy = this.busy.then(() => this.disturb(event.target, () => this.fire(event))).catch((err: unknown) => {
        this.failures.push(`${event.target}: ${String(err).slice(0, 500)}`);
        this.log(`chaos: ${event.target} restart failed: ${String(err)}`);
      });
    }
  }

  private async disturb(target: string, what: () => Promise<void>): Promise<void> {
    const from = Date.now();
    try {
      await what();
    } finally {
      this.disturbances.push({ target, from, to: Date.now() });
    }
  }

  private async fire({ target, downMs }: KillEvent): Promise<void> {
    if (target === 'postgres') return this.outage(downMs);
    this.kills[target] = (this.kills[target] ?? 0) + 1;
    if (target === 'temporal') {
      this.log(`chaos: restarting Temporal (checkout ${this.started})`);
      await this.target.restartTemporal();
      return;
    }
    if ((INFRA_TARGETS as readonly string[]).includes(target)) {
      if (!this.target.restartInfra) throw new Error(`this system cannot restart ${target}`);
      this.log(`chaos: restarting ${target} (checkout ${this.started}), down ${downMs} ms`);
      const from = Date.now();
      await this.target.restartInfra(target as InfraTarget, downMs);
      this.log(`chaos: ${target} back after ${Date.now() - from} ms`);
      return;
    }
    this.log(`chaos: kill -9 ${target} (checkout ${this.started}), down ${downMs} ms`);
    const name = target as TargetProcess;
    await this.target.kill9(name);
    await sleep(downMs);
    // A new seed per life, so a restarted service does not replay the same fault sequence.
    await this.target.restart(name, { FAULTS_SEED: String(this.seed + ++this.restarts) });
  }

  /**
   * Postgres away for `downMs` under load: while it is down the probe adds requests of every
   * kind (new checkouts, reads, duplicates, refunds), so the API is asked more than the lanes
   * waiting on their runs ask it; then every process must be ready again by itself.
   */
  private async outage(downMs: number): Promise<void> {
    const postgres = this.target.postgres;
    if (!postgres) {
      this.log('chaos: this system cannot stop its Postgres; the outage is skipped');
      return;
    }
    this.log(`chaos: stopping Postgres for ${downMs} ms (checkout ${this.started})`);
    const stopping = Date.now();
    await postgres.stop();
    const down = Date.now();
    const probing = this.probe?.(down + downMs);
    await sleep(Math.max(0, down + downMs - Date.now()));
    await probing;
    const starting = Date.now();
    await postgres.start();
    const times = { stopping, down, starting, up: Date.now() };
    const { at, notReady } = await untilReady(Object.values(this.target.healthUrls), 60_000);
    const notRunning = processNamesOf(this.target).filter((n) => !this.target.running(n));
    this.outages.push({ ...times, readyAt: at, notReady, notRunning });
    this.log(
      `chaos: Postgres down ${times.starting - times.down} ms (stop took ${times.down - times.stopping} ms, start ${times.up - times.starting} ms); ` +
        (at === null ? `NOT READY after 60 s: ${notReady.join(', ')}` : `every process ready ${at - times.up} ms after`) +
        (notRunning.length ? `; not running: ${notRunning.join(', ')}` : ''),
    );
  }

  /** Queued behind kills in progress, so a process being killed on purpose never looks dead "on its own". */
  reviveDead(): Promise<void> {
    this.busy = this.busy.then(() => this.reviveNow());
    return this.busy;
  }

  private async reviveNow(): Promise<void> {
    for (const name of processNamesOf(this.target)) {
      if (this.target.running(name)) continue;
      this.unexpectedDeaths[name] = (this.unexpectedDeaths[name] ?? 0) + 1;
      this.log(`chaos: ${name} died on its own; restarting it. Its last output:\n${this.target.lastWords(name)}`);
      await this.disturb(name, () => this.target.restart(name, { FAULTS_SEED: String(this.seed + ++this.restarts) })).catch((err: unknown) => this.log(String(err)));
    }
  }

  /** Waits for kills still in progress (and any left in the plan are dropped). */
  async finish(): Promise<void> {
    this.pending.length = 0;
    await this.reviveDead();
  }
}

/** Sends the refund burst all at once; answers are checked per request, then per key. */
async function refundBurst(
  client: () => ApiClient,
  requests: RefundBurstRequest[],
): Promise<{ report: RefundBurstReport; pending: { checkoutId: string; refundId: string }[] }> {
  const answers = await Promise.all(
    requests.map(async (r) => {
      const answer = await client().send('POST /checkouts/{id}/refunds', 'POST', `/checkouts/${r.checkoutId}/refunds`, { retries: 0 }, { key: r.key, body: { amount: r.amount } });
      return { r, answer };
    }),
  );
  const report: RefundBurstReport = {
    requests: requests.length,
    keys: new Set(requests.filter((r) => r.known).map((r) => r.key)).size,
    unknown: requests.filter((r) => !r.known).length,
    answers: {},
    unexpected: [],
    divergentKeys: 0,
    unsettled: 0,
  };
  const byKey = new Map<string, { checkoutId: string; ids: Set<string>; final: boolean }>();
  for (const { r, answer } of answers) {
    const status = answer ? String(answer.status) : 'none';
    report.answers[status] = (report.answers[status] ?? 0) + 1;
    const expected = r.known ? answer?.status === 201 || answer?.status === 202 : answer?.status === 404;
    if (!expected) report.unexpected.push(`${r.known ? 'refund' : 'refund of an unknown checkout'} ${r.checkoutId} (key ${r.key}): ${status} ${String(answer?.body.type ?? '')}`);
    if (r.known && expected) {
      const k = byKey.get(r.key) ?? { checkoutId: r.checkoutId, ids: new Set<string>(), final: false };
      k.ids.add(String(answer!.body.id));
      k.final ||= answer!.body.status !== 'pending';
      byKey.set(r.key, k);
    }
  }
  report.divergentKeys = [...byKey.values()].filter((k) => k.ids.size > 1).length;
  const pending = [...byKey.values()].filter((k) => !k.final).map((k) => ({ checkoutId: k.checkoutId, refundId: [...k.ids][0]! }));
  return { report, pending };
}

function latencyStats(outcomes: CheckoutOutcome[], concurrency: number): LatencyStats {
  const measured = outcomes.filter((o) => o.latencyMs !== null);
  const values = measured.map((o) => o.latencyMs!);
  return {
    concurrency,
    checkouts: measured.length,
    p50Ms: percentile(values, 50),
    p95Ms: percentile(values, 95),
    finalInWait: measured.length ? measured.filter((o) => o.finalInWait).length / measured.length : 0,
  };
}

export function answerFindings(answers: ApiAnswer[]): AnswerFindings {
  const findings: AnswerFindings = { serverErrors: 0, unavailableWithoutRetryAfter: 0, hangs: 0, duplicateConflicts: 0, examples: [] };
  for (const a of answers) {
    const kind =
      a.status === 'no answer in time'
        ? 'hangs'
        : typeof a.status !== 'number'
          ? undefined
          : a.status === 503
            ? hasRetryAfter(a)
              ? undefined
              : 'unavailableWithoutRetryAfter'
            : a.status >= 500
              ? 'serverErrors'
              : a.status === 409 && a.problem === 'idempotency-key-in-use'
                ? 'duplicateConflicts'
                : undefined;
    if (!kind) continue;
    findings[kind]++;
    if (findings.examples.length < 5) findings.examples.push(describeAnswer(a));
  }
  return findings;
}

/** The answers to requests in flight at any moment of the outage: each must be a success or 503 + Retry-After. */
export function outageAnswers(answers: ApiAnswer[], o: OutageTimes): OutageReport['answers'] {
  const during = answers.filter((a) => a.at <= o.up && a.at + a.ms >= o.stopping);
  const success = during.filter((a) => typeof a.status === 'number' && a.status >= 200 && a.status < 300);
  const retryLater = during.filter((a) => a.status === 503 && hasRetryAfter(a));
  const other = during.filter((a) => !success.includes(a) && !retryLater.includes(a));
  return { total: during.length, success: success.length, retryLater: retryLater.length, other: other.length, otherExamples: other.slice(0, 5).map(describeAnswer) };
}

export async function runChaos(
  target: ChaosTarget,
  plan: PlannedCheckout[],
  killPlan: KillEvent[],
  opts: ChaosRunOptions,
): Promise<ChaosResult> {
  const log = opts.log ?? (() => undefined);
  const waitSeconds = opts.preferWaitSeconds ?? 30;
  const started = Date.now();
  const traffic = new Traffic();
  const hardDeadline = () => Date.now() + opts.settleTimeoutMs;
  const clientUntil = (deadline: number) => new ApiClient(target, traffic, deadline);
  const peakWaits: Record<Phase, number> = { load: 0, burst: 0 };
  let total = plan.length + (opts.burst?.plan.length ?? 0);
  /** Every checkout driven so far, in the order they started. */
  const driven: CheckoutOutcome[] = [];
  let done = 0;
  // Each lane follows one checkout until it is terminal, or gives up on it after a while
  // (it is polled again below), so a stuck checkout never blocks a lane for the whole run.
  const driveOne = async (p: PlannedCheckout, phase: Phase) => {
    const outcome = newOutcome(p, phase);
    driven.push(outcome);
    await driveCheckout(clientUntil(hardDeadline()), outcome, Date.now() + Math.min(60_000, opts.settleTimeoutMs), waitSeconds);
    if (++done % 50 === 0) log(`chaos: ${done}/${total} checkouts driven`);
    return outcome;
  };

  // While Postgres is down: as many new checkouts as the load has clients (each retried until
  // accepted once the database is back, then driven to its end like any other), and four
  // clients reading and resending what exists, and asking for what does not, every 200 ms.
  const extra: Promise<CheckoutOutcome>[] = [];
  let outages = 0;
  const probe = async (until: number) => {
    const n = outages++;
    const fresh = planCheckouts({ checkouts: opts.concurrency, seed: opts.seed + 100 + n, keyPrefix: `chaos-${opts.seed}-outage${n}` });
    total += fresh.length;
    extra.push(...fresh.map((p) => driveOne(p, 'load')));
    const known = driven.filter((o) => o.checkoutId);
    const client = clientUntil(until);
    await Promise.all(
      Array.from({ length: 4 }, async (_, lane) => {
        for (let i = lane; Date.now() < until; i += 4) {
          const o = known.length ? known[Math.floor(Math.random() * known.length)]! : undefined;
          const unknown = `chk_${randomBytes(20).toString('hex')}`;
          if (i % 4 === 0 && o) await client.once('GET /checkouts/{id}', 'GET', `/checkouts/${o.checkoutId}`);
          else if (i % 4 === 1 && o) await client.once('POST /checkouts', 'POST', '/checkouts', { key: o.planned.idempotencyKey, body: o.planned.body });
          else if (i % 4 === 2) await client.once('POST /checkouts/{id}/refunds', 'POST', `/checkouts/${unknown}/refunds`, { key: `probe-${n}-${i}`, body: { amount: 1 } });
          else await client.once('GET /checkouts/{id}', 'GET', `/checkouts/${unknown}`);
          await sleep(200);
        }
      }),
    );
  };

  const monkey = new ChaosMonkey(target, killPlan, opts.seed, log, probe);
  const watchdog = setInterval(() => void monkey.reviveDead(), 5_000);
  try {
    const outcomes = await mapLimit(plan, opts.concurrency, (p) => {
      monkey.checkoutStarted();
      return driveOne(p, 'load');
    });
    await monkey.finish();
    outcomes.push(...(await Promise.all(extra)));
    const loadMs = Date.now() - started;
    peakWaits.load = traffic.peakWaits;

    // The burst: many clients at once, each waiting on its checkout, and refunds all at once
    // while those waits are in flight (duplicates of one key, and checkouts that do not exist).
    let refunds: Awaited<ReturnType<typeof refundBurst>> | undefined;
    const burst = opts.burst;
    if (burst && burst.plan.length) {
      log(`chaos: load done in ${((Date.now() - started) / 1000).toFixed(0)} s; burst of ${burst.plan.length} checkouts at ${burst.concurrency} concurrent waits`);
      traffic.peakWaits = traffic.waitsInFlight;
      const completed = outcomes.filter((o) => o.status === 'completed' && o.checkoutId).map((o) => o.checkoutId!);
      const requests = planRefundBurst({ seed: opts.seed, checkoutIds: completed, requests: burst.refundRequests });
      const lanesBusy = Math.min(burst.concurrency, burst.plan.length);
      const [burstOutcomes, refunded] = await Promise.all([
        mapLimit(burst.plan, burst.concurrency, (p) => driveOne(p, 'burst')),
        (async () => {
          if (!requests.length) return undefined;
          for (const until = Date.now() + 10_000; traffic.waitsInFlight < lanesBusy && Date.now() < until; ) await sleep(20);
          log(`chaos: ${requests.length} refund requests at once, ${traffic.waitsInFlight} checkout waits in flight`);
          return refundBurst(() => clientUntil(hardDeadline()), requests);
        })(),
      ]);
      outcomes.push(...burstOutcomes);
      refunds = refunded;
      peakWaits.burst = traffic.peakWaits;
    }

    // Settle: every straggler is polled until terminal or the settle timeout; so is every refund
    // of the burst still pending.
    const settleBy = hardDeadline();
    const stragglers = outcomes.filter((o) => o.checkoutId && !isTerminal(o.status));
    log(`chaos: all driven in ${((Date.now() - started) / 1000).toFixed(0)} s; waiting for ${stragglers.length} straggler(s)`);
    const client = clientUntil(settleBy);
    await mapLimit(stragglers, opts.concurrency, async (o) => {
      for (let pause = 500; !isTerminal(o.status) && Date.now() < settleBy; pause = Math.min(pause * 2, 5_000)) {
        const answer = await client.send('GET /checkouts/{id}', 'GET', `/checkouts/${o.checkoutId}`, o);
        if (answer?.status === 200) observe(o, answer.body, false);
        if (!isTerminal(o.status)) await sleep(pause);
      }
    });
    if (refunds) {
      await mapLimit(refunds.pending, opts.concurrency, async ({ checkoutId, refundId }) => {
        for (let pause = 500; Date.now() < settleBy; pause = Math.min(pause * 2, 5_000)) {
          const answer = await client.send('GET /checkouts/{id}/refunds/{refundId}', 'GET', `/checkouts/${checkoutId}/refunds/${refundId}`, { retries: 0 });
          if (answer?.status === 200 && answer.body.status !== 'pending') return;
          await sleep(pause);
        }
        refunds!.report.unsettled++;
      });
    }

    // No restart may race the audit or the caller's stop(): the last revive is awaited here.
    clearInterval(watchdog);
    await monkey.reviveDead();

    const input = await collectAuditInput(target.config);
    const durations = input.checkouts.flatMap((c) => (isTerminal(c.status) && c.durationMs !== undefined ? [c.durationMs] : []));
    const audit = auditInvariants(input);
    const load = outcomes.filter((o) => o.phase === 'load');
    const undisturbed = load.filter(
      (o) => o.latencyMs !== null && !monkey.disturbances.some((d) => o.startedAt <= d.to && o.startedAt + o.latencyMs! >= d.from),
    );
    return {
      outcomes,
      kills: monkey.kills,
      unexpectedDeaths: monkey.unexpectedDeaths,
      faults: target.faultCounts(),
      audit,
      completionMs: medianAndMax(durations),
      latency: {
        load: latencyStats(undisturbed, opts.concurrency),
        loadAll: latencyStats(load, opts.concurrency),
        burst: burst && burst.plan.length ? latencyStats(outcomes.filter((o) => o.phase === 'burst'), burst.concurrency) : null,
      },
      peakWaits,
      answers: {
        total: traffic.answers.length,
        connectionErrors: traffic.answers.filter((a) => a.status === 'connection error').length,
        byReplica: traffic.answers.reduce<Record<string, number>>((m, a) => (a.replica ? { ...m, [a.replica]: (m[a.replica] ?? 0) + 1 } : m), {}),
        findings: answerFindings(traffic.answers),
      },
      outages: monkey.outages.map((o) => ({ ...o, answers: outageAnswers(traffic.answers, o) })),
      refundBurst: refunds?.report ?? null,
      restartFailures: monkey.failures,
      loadMs,
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
