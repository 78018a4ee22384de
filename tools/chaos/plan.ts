/**
 * The pure part of a chaos run: what to send, which faults to inject, what to kill when, and
 * how to summarise the outcome. Everything derives from one seed, so a run can be repeated
 * (the timing of kills relative to requests still varies with the machine).
 */
import type { ServiceName } from '../../src/platform/config';
import { mulberry32 } from '../../src/platform/random';
import type { ProcessSpec } from '../dev/processes';
import type { LineItem } from '../../src/saga/types';

/** The test triggers (docs/api.md#test-triggers), one scenario each. */
export const SCENARIOS = ['ok', 'declined', 'insufficient-funds', 'out-of-stock', 'bounce'] as const;
export type Scenario = (typeof SCENARIOS)[number];

/** The outcome each scenario must reach when nothing else goes wrong. */
export const EXPECTED_STATUS: Record<Scenario, 'completed' | 'failed'> = {
  ok: 'completed',
  declined: 'failed',
  'insufficient-funds': 'failed',
  'out-of-stock': 'failed',
  bounce: 'completed',
};

/** Default mix: mostly happy paths (they cross every service), every trigger well represented. */
export const DEFAULT_MIX: Record<Scenario, number> = {
  ok: 0.5,
  declined: 0.1,
  'insufficient-funds': 0.1,
  'out-of-stock': 0.15,
  bounce: 0.15,
};

export interface CheckoutBody {
  customerId: string;
  email: string;
  currency: string;
  items: LineItem[];
  paymentMethod: string;
}

/**
 * How a checkout is submitted: once; again after the first answer (a client retry); or as
 * several identical requests at the same moment (a double click, a retrying proxy).
 */
export type Submission = { kind: 'once' } | { kind: 'sequential'; repeats: number } | { kind: 'concurrent'; copies: number };

export interface PlannedCheckout {
  index: number;
  scenario: Scenario;
  idempotencyKey: string;
  body: CheckoutBody;
  submission: Submission;
  /** For a completed checkout: a partial refund asked for through the API, sent twice at once. */
  refund: boolean;
}

export interface LoadOptions {
  checkouts: number;
  seed: number;
  mix?: Record<Scenario, number>;
  /** Share of checkouts submitted more than once (half sequentially, half concurrently). */
  duplicateRate?: number;
  /** Share of `ok` checkouts that get a merchant refund once completed. */
  refundRate?: number;
  /** Idempotency keys are `<keyPrefix>-<index>` (default `chaos-<seed>`): a second plan of one run needs its own. */
  keyPrefix?: string;
}

function pick<T extends string>(weights: Record<T, number>, r: number): T {
  const entries = Object.entries(weights) as [T, number][];
  const total = entries.reduce((s, [, w]) => s + w, 0);
  let x = r * total;
  for (const [k, w] of entries) {
    if ((x -= w) < 0) return k;
  }
  return entries[entries.length - 1]![0];
}

export function planCheckouts(opts: LoadOptions): PlannedCheckout[] {
  const random = mulberry32(opts.seed);
  const duplicateRate = opts.duplicateRate ?? 0.3;
  const refundRate = opts.refundRate ?? 0.1;
  return Array.from({ length: opts.checkouts }, (_, index) => {
    const scenario = pick(opts.mix ?? DEFAULT_MIX, random());
    const d = random();
    const submission: Submission =
      d < duplicateRate / 2
        ? { kind: 'sequential', repeats: 1 + Math.floor(random() * 2) }
        : d < duplicateRate
          ? { kind: 'concurrent', copies: 2 + Math.floor(random() * 2) }
          : { kind: 'once' };
    const quantity = 1 + Math.floor(random() * 3);
    const unitAmount = 100 + Math.floor(random() * 9_900);
    const items: LineItem[] = [{ sku: `SKU-${1 + Math.floor(random() * 5)}`, quantity, unitAmount }];
    if (scenario === 'out-of-stock') items.push({ sku: 'OUT-OF-STOCK', quantity: 1, unitAmount: 500 });
    const paymentMethod = scenario === 'declined' ? 'tok_chargeDeclined' : scenario === 'insufficient-funds' ? 'tok_insufficientFunds' : 'tok_visa';
    return {
      index,
      scenario,
      idempotencyKey: `${opts.keyPrefix ?? `chaos-${opts.seed}`}-${index}`,
      body: {
        customerId: `cus_chaos_${index % 97}`,
        email: scenario === 'bounce' ? `c${index}@bounce.test` : `c${index}@example.com`,
        currency: 'USD',
        items,
        paymentMethod,
      },
      submission,
      refund: scenario === 'ok' && random() < refundRate,
    };
  });
}

/** Injection points of each service (`config.faultPoint` of its routes). */
export const FAULT_POINTS: Record<ServiceName, readonly string[]> = {
  payment: ['charge', 'refund'],
  order: ['order', 'cancel'],
  notification: ['notify'],
};

/**
 * A FAULTS spec per service such that a request at any fault point gets a fault with about
 * `rate` probability: 40 % of it `before` (503, nothing done), 40 % `after` (done, reply lost),
 * 20 % `delay` (answer held past the caller's timeout). The kinds are drawn independently, so
 * the combined chance is a little under `rate`.
 */
export function faultSpecs(rate: number, delayMs: number): Record<ServiceName, string> {
  if (rate < 0 || rate > 1) throw new RangeError(`fault rate must be in [0, 1], got ${rate}`);
  const p = (share: number) => Number((rate * share).toFixed(4));
  const spec = (points: readonly string[]) =>
    rate === 0
      ? ''
      : points.flatMap((pt) => [`${pt}:before=${p(0.4)}`, `${pt}:after=${p(0.4)}`, `${pt}:delay=${delayMs}@${p(0.2)}`]).join(',');
  return { payment: spec(FAULT_POINTS.payment), order: spec(FAULT_POINTS.order), notification: spec(FAULT_POINTS.notification) };
}

/** `postgres`: a database outage (stopped, kept down for `downMs`, started again), not a kill. */
export type KillTarget =
  | ProcessSpec['name']
  | 'temporal'
  | 'postgres'
  | 'temporal-frontend'
  | 'temporal-history'
  | 'temporal-matching'
  | 'temporal-worker'
  | 'temporal-postgres';

export interface KillEvent {
  /** Fires once this many checkouts have been started. */
  afterCheckouts: number;
  target: KillTarget;
  /** How long the process stays dead before it is restarted. */
  downMs: number;
}

export interface KillOptions {
  checkouts: number;
  seed: number;
  /** SIGKILLs of application processes; each of `targets` is hit at least once when kills ≥ targets. */
  kills: number;
  targets: readonly ProcessSpec['name'][];
  /** Restart the Temporal dev server once, half-way. */
  restartTemporal: boolean;
  /** Stop Postgres for this long once, at 70 % of the run (0 or absent: no outage). */
  postgresOutageMs?: number;
  /**
   * The cluster topology: each of these restarted once (stopped, down `downMs`, started again),
   * spread evenly over 20 %–85 % of the run, in this order.
   */
  infraRestarts?: readonly { target: KillTarget; downMs: number }[];
}

/** Kill moments spread over the run (never during the first 5 % or the last 10 %, so load surrounds each). */
export function planKills(opts: KillOptions): KillEvent[] {
  const random = mulberry32(opts.seed ^ 0x5eed);
  const shuffled = [...opts.targets].sort(() => random() - 0.5);
  const events: KillEvent[] = [];
  const span = Math.max(1, Math.floor(opts.checkouts * 0.85));
  for (let i = 0; i < opts.kills; i++) {
    const target = i < shuffled.length ? shuffled[i]! : shuffled[Math.floor(random() * shuffled.length)]!;
    events.push({ afterCheckouts: Math.floor(opts.checkouts * 0.05 + random() * span), target, downMs: Math.floor(random() * 2_000) });
  }
  if (opts.restartTemporal) events.push({ afterCheckouts: Math.floor(opts.checkouts / 2), target: 'temporal', downMs: 1_000 });
  if (opts.postgresOutageMs) events.push({ afterCheckouts: Math.floor(opts.checkouts * 0.7), target: 'postgres', downMs: opts.postgresOutageMs });
  const infra = opts.infraRestarts ?? [];
  infra.forEach(({ target, downMs }, i) =>
    events.push({ afterCheckouts: Math.floor(opts.checkouts * (0.2 + (0.65 * (i + 0.5)) / infra.length)), target, downMs }),
  );
  return events.sort((a, b) => a.afterCheckouts - b.afterCheckouts);
}

/** One request of a refund burst: `POST /checkouts/{checkoutId}/refunds` with `Idempotency-Key: key`. */
export interface RefundBurstRequest {
  checkoutId: string;
  key: string;
  amount: number;
  /** False for a checkout id that was never created: the answer must be 404. */
  known: boolean;
}

export interface RefundBurstOptions {
  seed: number;
  /** Completed checkouts to refund (one cent per key, so no sum of refunds can exceed a charge). */
  checkoutIds: readonly string[];
  /** Requests in the burst, all sent at once. */
  requests: number;
  /** Share of the requests for checkouts that do not exist (default 0.3). */
  unknownShare?: number;
  /** Copies of each refund key of a known checkout, sent concurrently (default 3). */
  copies?: number;
}

/**
 * A burst of merchant refunds: keys of known checkouts, each sent `copies` times at the same
 * moment (one refund per key must come of it), and requests for well-formed checkout ids that
 * were never created. Shuffled, so the copies of a key do not leave together.
 */
export function planRefundBurst(opts: RefundBurstOptions): RefundBurstRequest[] {
  const random = mulberry32(opts.seed ^ 0x4ef0);
  const copies = Math.max(1, opts.copies ?? 3);
  const unknown = opts.checkoutIds.length === 0 ? opts.requests : Math.round(opts.requests * (opts.unknownShare ?? 0.3));
  const requests: RefundBurstRequest[] = [];
  for (let i = 0; requests.length < opts.requests - unknown; i++) {
    const checkoutId = opts.checkoutIds[i % opts.checkoutIds.length]!;
    const key = `chaos-${opts.seed}-burst-refund-${i}`;
    for (let c = 0; c < copies && requests.length < opts.requests - unknown; c++) requests.push({ checkoutId, key, amount: 1, known: true });
  }
  const hex = () => Array.from({ length: 40 }, () => Math.floor(random() * 16).toString(16)).join('');
  for (let i = 0; i < unknown; i++) requests.push({ checkoutId: `chk_${hex()}`, key: `chaos-${opts.seed}-unknown-refund-${i}`, amount: 1, known: false });
  for (let i = requests.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [requests[i], requests[j]] = [requests[j]!, requests[i]!];
  }
  return requests;
}

/** The p-th percentile (nearest rank, 0 < p ≤ 100) of `values`; 0 for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1]!;
}

/** Median and maximum (0 for none), for completion times. */
export function medianAndMax(values: number[]): { median: number; max: number } {
  if (values.length === 0) return { median: 0, max: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, max: sorted[sorted.length - 1]! };
}

/** Injected faults by kind, from service log lines (`{"fault":"charge:after",…,"msg":"injected fault"}`). */
export function countFaults(lines: Iterable<string>): Record<'before' | 'after' | 'delay', number> {
  const counts = { before: 0, after: 0, delay: 0 };
  for (const line of lines) {
    if (!line.includes('"injected fault"')) continue;
    const kind = /"fault":"[^"]*:(before|after|delay)"/.exec(line)?.[1] as keyof typeof counts | undefined;
    if (kind) counts[kind]++;
  }
  return counts;
}
