/**
 * Records the outcome of every run nobody waited for, soon after it ends, so `GET` answers from
 * the API's own record for as long as that record is kept — long after Temporal forgot the run —
 * and purges records past their retention.
 *
 * A request that waits records the outcome itself; this loop covers the rest: it claims started
 * checkouts and refunds without an outcome that are due for a look (replicas of the API share
 * them, `FOR UPDATE SKIP LOCKED`), asks Temporal where each stands, and records those that ended.
 * A run ended from outside (terminated by an operator) is recorded as `terminated`.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Pool } from 'pg';
import type { TemporalGateway } from './temporal-gateway';
import * as store from './store';
import type { CheckoutOutcome } from './store';

/** Runs looked at per sweep and in parallel: a sweep stays short however many are open. */
const SWEEP_BATCH = 50;
const PARALLEL_READS = 8;
/** Purging expired records is cheap (an index range) and rare. */
const PURGE_EVERY_SWEEPS = 300;

export interface OutcomeRecorderOptions {
  pool: Pool;
  temporal: TemporalGateway;
  intervalMs: number;
  retentionMs: number;
  log: FastifyBaseLogger;
  /** Called for each outcome this recorder recorded (not for one a request recorded first). */
  recorded?: (outcome: CheckoutOutcome) => void;
}

export class OutcomeRecorder {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private sweeps = 0;

  constructor(private readonly options: OutcomeRecorderOptions) {}

  start(): void {
    const tick = () => {
      this.running = this.sweep().then(() => {
        if (this.timer) this.timer = setTimeout(tick, this.options.intervalMs).unref();
      });
    };
    this.timer = setTimeout(tick, this.options.intervalMs).unref();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One pass: record what ended, then (now and then) purge what expired. Never throws. */
  async sweep(): Promise<{ checkouts: number; refunds: number }> {
    const recorded = { checkouts: 0, refunds: 0 };
    try {
      recorded.checkouts = await this.recordCheckouts();
      recorded.refunds = await this.recordRefunds();
      if (this.sweeps++ % PURGE_EVERY_SWEEPS === 0) {
        const purged = await store.purgeCheckouts(this.options.pool, this.options.retentionMs);
        if (purged > 0) this.options.log.info({ purged }, 'purged checkout records past their retention');
      }
    } catch (err) {
      // The database or Temporal is away: the claimed rows are due again later; nothing is lost.
      this.options.log.warn({ err }, 'outcome sweep failed; retrying at the next one');
    }
    return recorded;
  }

  private recordCheckouts(): Promise<number> {
    const { pool, temporal } = this.options;
    return recordEnded(
      () => store.claimUnfinishedCheckouts(pool, SWEEP_BATCH),
      (id) => temporal.endedCheckout(id),
      async (id, state) => {
        if (await store.recordCheckoutOutcome(pool, id, state)) this.options.recorded?.(state);
      },
    );
  }

  private recordRefunds(): Promise<number> {
    const { pool, temporal } = this.options;
    return recordEnded(
      () => store.claimUnfinishedRefunds(pool, SWEEP_BATCH),
      (id) => temporal.endedRefund(id),
      (id, state) => store.recordRefundResult(pool, id, state),
    );
  }
}

/**
 * Claims the due records, reads each run (at most PARALLEL_READS at a time) and records the state
 * of those that ended; a read that fails counts as not ended (the record is due again later).
 */
async function recordEnded<S>(
  claim: () => Promise<{ id: string }[]>,
  read: (id: string) => Promise<{ state: S; final: boolean } | null>,
  record: (id: string, state: S) => Promise<unknown>,
): Promise<number> {
  const due = await claim();
  let ended = 0;
  for (let i = 0; i < due.length; i += PARALLEL_READS) {
    await Promise.allSettled(
      due.slice(i, i + PARALLEL_READS).map(async ({ id }) => {
        const run = await read(id);
        if (!run?.final) return;
        await record(id, run.state);
        ended++;
      }),
    );
  }
  return ended;
}
