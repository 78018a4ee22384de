/**
 * The outbox dispatcher: sends committed notifications by SMTP, one row at a time.
 *
 * The at-most-once boundary is the SMTP server's acceptance. Before it, a row is claimed by a
 * committed lease (claimDue: `claimed_by`, `claim_expires_at`); no connection is held while the
 * message is sent. After it, the dispatcher knows the message went out, and recording that is
 * the one thing left: the fact is kept in memory and `markSent` is retried, each time on a fresh
 * pooled connection with backoff, for as long as the database is unavailable. The loop claims
 * nothing meanwhile, and other dispatchers skip the row while its lease lasts, so a database
 * blip (a restart, a dropped connection, a failed commit) never sends a second copy.
 *
 * What can still send a copy is losing the in-memory fact: the process dies between acceptance
 * and the record. Its claim is then released when the same instance starts again (it recognises
 * its own claims by `instance`), or taken over by another dispatcher once the lease expires.
 * The resend carries the same Message-ID (derived from the key), so receivers and the audit
 * recognise the copy (docs/api.md#invariants counts such copies separately). So does a database
 * outage longer than the lease while a second dispatcher is running: it cannot tell that from a
 * crash.
 *
 * A claim whose answer was lost (committed, then the connection died) is this dispatcher's own
 * and it takes it again at once; one whose send was accepted but never recorded (it gave up:
 * stopping, or an error other than the database being away) it never takes again.
 *
 * Failures are retried with exponential backoff and jitter; after `maxAttempts` the row is
 * dead-lettered (status `dead`) for an operator. A hard bounce (5xx) is retried like any other
 * failure: the bound is small, and one code path is easier to trust than a classification.
 */
import type { FastifyBaseLogger } from 'fastify';
import nodemailer, { type Transporter } from 'nodemailer';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Pool } from 'pg';
import type { Config } from '../../platform/config';
import { isDatabaseUnavailable } from '../../platform/db/errors';
import { crashIfPlanned, faultPlanner, parseFaults, type FaultPlan } from '../../platform/faults';
import { FROM_ADDRESS, render } from './message';
import { claimDue, markFailed, markSent, releaseClaimsOf, type OutboxMessage } from './store';

export type DispatcherOptions = Config['outbox'] & {
  smtpUrl: string;
  /** FAULTS and FAULTS_SEED: `send:crash=P` kills the process between SMTP acceptance and the record. */
  faults?: string;
  faultsSeed?: number;
  /**
   * A name only one live dispatcher holds at a time and its replacement holds after it (the
   * service's host and port). At start, claims an earlier process of this instance left are
   * released, so a message in hand when it was killed is sent again at once. Unset: a fresh
   * name, whose leftover claims wait for their lease to expire.
   */
  instance?: string;
  /** How long a claim is honoured before another dispatcher may take the row (CLAIM_LEASE_MS). */
  claimLeaseMs?: number;
};

/** An SMTP server that stops answering must not hold a claim (and the loop) for long. */
const SMTP_TIMEOUT_MS = 10_000;

/**
 * The default claim lease: far longer than a send can take (three phases of at most
 * SMTP_TIMEOUT_MS each), so a live dispatcher never loses a row it is sending, and long enough to
 * ride out a database restart before a second dispatcher may take an accepted row.
 */
export const CLAIM_LEASE_MS = 120_000;

/** Retries of recording an outcome: the first at once, then with backoff up to this delay. */
const RECORD_RETRY_BASE_MS = 100;
const RECORD_RETRY_MAX_MS = 2_000;
/** A failure that is not the database being unavailable (a bug, a permission) is retried this often. */
const RECORD_MAX_OTHER_FAILURES = 5;
/** Once stopping, how long an unrecorded outcome is still retried before the process lets it go. */
const RECORD_GRACE_ON_STOP_MS = 5_000;

function transportFor(smtpUrl: string): Transporter {
  const u = new URL(smtpUrl);
  return nodemailer.createTransport({
    host: u.hostname,
    port: Number(u.port || (u.protocol === 'smtps:' ? 465 : 587)),
    secure: u.protocol === 'smtps:',
    auth: u.username ? { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } : undefined,
    connectionTimeout: SMTP_TIMEOUT_MS,
    greetingTimeout: SMTP_TIMEOUT_MS,
    socketTimeout: SMTP_TIMEOUT_MS,
  });
}

/** Delay before retry number `attempt` (1-based): base·2^(attempt-1), capped, with "equal jitter". */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** A short, log-safe description of a send failure: SMTP code and server text, no message content. */
function describe(err: unknown): string {
  const e = err as { responseCode?: number; code?: string; message?: string };
  return `${e.responseCode ?? e.code ?? 'error'}: ${e.message ?? String(err)}`.slice(0, 500);
}

/** The outcome of one send, to be recorded. */
type Outcome = { kind: 'sent' } | { kind: 'failed'; error: string; retryInMs: number | undefined };

export class OutboxDispatcher {
  private readonly transport: Transporter;
  private running: Promise<void> | undefined;
  private stopping = false;
  private stopRequestedAt = 0;
  private wake: (() => void) | undefined;
  private readonly faultPlan: (point: string) => FaultPlan;
  /** This dispatcher's claims: `<instance>/<uuid>`. */
  readonly owner: string;
  private readonly leaseMs: number;
  /** True while the database is failing: logs the outage once, and its end, not every poll. */
  private databaseDown = false;
  /**
   * Messages the SMTP server accepted whose record this dispatcher gave up on: it never claims
   * them again (they keep its claim; only a successor or the lease's expiry resends them).
   */
  private readonly acceptedUnrecorded = new Set<string>();

  constructor(
    private readonly pool: Pool,
    private readonly opts: DispatcherOptions,
    private readonly log: FastifyBaseLogger,
  ) {
    this.transport = transportFor(opts.smtpUrl);
    this.faultPlan = faultPlanner(parseFaults(opts.faults ?? ''), opts.faultsSeed ?? 1);
    this.owner = `${opts.instance ?? randomUUID()}/${randomUUID()}`;
    this.leaseMs = opts.claimLeaseMs ?? CLAIM_LEASE_MS;
  }

  start(): void {
    this.running ??= this.loop();
  }

  /** Finishes the message in hand (its outcome is recorded, within a bound), then stops. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopRequestedAt = Date.now();
    this.wake?.();
    await this.running;
    this.transport.close();
  }

  private async loop(): Promise<void> {
    let released = this.opts.instance === undefined;
    while (!this.stopping) {
      let handled = false;
      try {
        if (!released) {
          const n = await releaseClaimsOf(this.pool, this.opts.instance!);
          if (n > 0) this.log.warn({ released: n }, 'released claims an earlier process of this instance left mid-send; resending them with the same Message-ID');
          released = true;
        }
        handled = await this.dispatchOne();
        this.databaseUp();
      } catch (err) {
        // Claiming failed (the database is unreachable): nothing was sent, and the loop tries
        // again after the pause. Every process rides out an outage without a restart.
        this.databaseFailed(err, 'outbox dispatch failed; retrying');
      }
      if (!handled) await this.pause(this.opts.pollIntervalMs);
    }
  }

  private databaseFailed(err: unknown, message: string): void {
    if (!isDatabaseUnavailable(err)) return this.log.warn({ err }, message);
    if (!this.databaseDown) this.log.warn({ err }, `${message} (database unavailable)`);
    this.databaseDown = true;
  }

  private databaseUp(): void {
    if (this.databaseDown) this.log.info('outbox dispatcher: database available again');
    this.databaseDown = false;
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Sends the oldest due message, if any; true when one was handled. */
  async dispatchOne(): Promise<boolean> {
    const message = await claimDue(this.pool, this.owner, this.leaseMs, [...this.acceptedUnrecorded]);
    if (!message) return false;
    if (message.previousOwner) {
      this.log.warn(
        { notificationId: message.id, messageId: message.messageId, previousOwner: message.previousOwner },
        'took over an expired claim (its dispatcher died mid-send or lost the database); resending with the same Message-ID',
      );
    }
    const failure = await this.send(message);
    if (failure === undefined) crashIfPlanned(this.faultPlan, 'send');
    const attempt = message.attempts + 1;
    if (failure === undefined) {
      // Past the at-most-once boundary: from here on the message is sent, whatever the database does.
      await this.record(message, { kind: 'sent' });
      this.log.info({ notificationId: message.id, messageId: message.messageId, attempt }, 'notification sent');
    } else if (attempt >= this.opts.maxAttempts) {
      await this.record(message, { kind: 'failed', error: failure, retryInMs: undefined });
      this.log.warn({ notificationId: message.id, attempt, error: failure }, 'notification dead-lettered');
    } else {
      const retryInMs = backoffMs(attempt, this.opts.backoffBaseMs, this.opts.backoffMaxMs);
      await this.record(message, { kind: 'failed', error: failure, retryInMs });
      this.log.info({ notificationId: message.id, attempt, retryInMs, error: failure }, 'notification send failed; will retry');
    }
    return true;
  }

  /**
   * Records the outcome of a send, retrying on a fresh pooled connection (`pool.query`; a
   * broken client is discarded) with backoff for as long as the database is unavailable. It
   * gives up only when stopping past RECORD_GRACE_ON_STOP_MS, or after a few failures of
   * another kind; the row then keeps its claim and is sent again by the next process of this
   * instance (or after the lease), with the same Message-ID: the crash case.
   */
  private async record(message: OutboxMessage, outcome: Outcome): Promise<void> {
    let otherFailures = 0;
    for (let retry = 1; ; retry++) {
      try {
        const recorded =
          outcome.kind === 'sent'
            ? await markSent(this.pool, message.id)
            : await markFailed(this.pool, message.id, this.owner, outcome.error, outcome.retryInMs);
        if (retry > 1) this.log.info({ notificationId: message.id, outcome: outcome.kind, retries: retry - 1 }, 'outcome recorded after the database came back');
        if (!recorded) this.log.warn({ notificationId: message.id, outcome: outcome.kind }, 'outcome not recorded: the row was no longer pending under this claim');
        return;
      } catch (err) {
        const unavailable = isDatabaseUnavailable(err);
        if (!unavailable) otherFailures += 1;
        const givingUp =
          otherFailures >= RECORD_MAX_OTHER_FAILURES || (this.stopping && Date.now() - this.stopRequestedAt >= RECORD_GRACE_ON_STOP_MS);
        if (givingUp) {
          if (outcome.kind === 'sent') this.acceptedUnrecorded.add(message.id);
          this.log.error(
            { err, notificationId: message.id, messageId: message.messageId, outcome: outcome.kind },
            outcome.kind === 'sent'
              ? 'accepted by SMTP but not recorded: it will be sent again with the same Message-ID'
              : 'send failure not recorded: the attempt will be repeated',
          );
          throw err;
        }
        if (retry === 1 || !unavailable) {
          this.log.warn({ err, notificationId: message.id, outcome: outcome.kind }, 'recording the outcome failed; retrying on a fresh connection');
        }
        await sleep(retry === 1 ? 0 : backoffMs(retry - 1, RECORD_RETRY_BASE_MS, RECORD_RETRY_MAX_MS));
      }
    }
  }

  /** Returns undefined on success, else a description of the failure. */
  private async send(message: OutboxMessage): Promise<string | undefined> {
    const { subject, text } = render(message.template, message.data);
    try {
      await this.transport.sendMail({ from: FROM_ADDRESS, to: message.to, subject, text, messageId: message.messageId });
      return undefined;
    } catch (err) {
      return describe(err);
    }
  }
}
