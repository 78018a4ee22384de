/**
 * The outbox dispatcher: sends committed notifications by SMTP, one row per transaction.
 *
 * The row stays locked (FOR UPDATE SKIP LOCKED) while it is being sent, and its new state
 * commits right after the SMTP server's answer. A crash in between leaves the row pending and
 * it is sent again: at-least-once delivery, made recognisable by the Message-ID that is the
 * same on every copy (docs/api.md#invariants counts such copies separately).
 *
 * Failures are retried with exponential backoff and jitter; after `maxAttempts` the row is
 * dead-lettered (status `dead`) for an operator. A hard bounce (5xx) is retried like any other
 * failure: the bound is small, and one code path is easier to trust than a classification.
 */
import type { FastifyBaseLogger } from 'fastify';
import nodemailer, { type Transporter } from 'nodemailer';
import type { Pool } from 'pg';
import type { Config } from '../../platform/config';
import { crashIfPlanned, faultPlanner, parseFaults, type FaultPlan } from '../../platform/faults';
import { FROM_ADDRESS, render } from './message';
import { claimDue, markFailed, markSent, type OutboxMessage } from './store';

export type DispatcherOptions = Config['outbox'] & {
  smtpUrl: string;
  /** FAULTS and FAULTS_SEED: `send:crash=P` kills the process between SMTP acceptance and the record. */
  faults?: string;
  faultsSeed?: number;
};

/** An SMTP server that stops answering must not hold a row lock (and the loop) for long. */
const SMTP_TIMEOUT_MS = 10_000;

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

export class OutboxDispatcher {
  private readonly transport: Transporter;
  private running: Promise<void> | undefined;
  private stopping = false;
  private wake: (() => void) | undefined;
  private readonly faultPlan: (point: string) => FaultPlan;

  constructor(
    private readonly pool: Pool,
    private readonly opts: DispatcherOptions,
    private readonly log: FastifyBaseLogger,
  ) {
    this.transport = transportFor(opts.smtpUrl);
    this.faultPlan = faultPlanner(parseFaults(opts.faults ?? ''), opts.faultsSeed ?? 1);
  }

  start(): void {
    this.running ??= this.loop();
  }

  /** Finishes the message in hand (its outcome is recorded), then stops. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.running;
    this.transport.close();
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      let handled = false;
      try {
        handled = await this.dispatchOne();
      } catch (err) {
        // The database is unreachable or the row update failed: nothing was recorded, so the
        // row is still pending and is picked up again after the pause.
        this.log.warn({ err }, 'outbox dispatch failed');
      }
      if (!handled) await this.pause(this.opts.pollIntervalMs);
    }
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
    const tx = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await tx.query('BEGIN');
      const message = await claimDue(tx);
      if (!message) {
        await tx.query('COMMIT');
        return false;
      }
      const failure = await this.send(message);
      if (failure === undefined) crashIfPlanned(this.faultPlan, 'send');
      const attempt = message.attempts + 1;
      if (failure === undefined) {
        await markSent(tx, message.id);
        this.log.info({ notificationId: message.id, messageId: message.messageId, attempt }, 'notification sent');
      } else if (attempt >= this.opts.maxAttempts) {
        await markFailed(tx, message.id, failure, undefined);
        this.log.warn({ notificationId: message.id, attempt, error: failure }, 'notification dead-lettered');
      } else {
        const retryInMs = backoffMs(attempt, this.opts.backoffBaseMs, this.opts.backoffMaxMs);
        await markFailed(tx, message.id, failure, retryInMs);
        this.log.info({ notificationId: message.id, attempt, retryInMs, error: failure }, 'notification send failed; will retry');
      }
      await tx.query('COMMIT');
      return true;
    } catch (err) {
      broken = err as Error;
      await tx.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      tx.release(broken);
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
