/**
 * In-memory stand-ins for the payment, order and notification services, shaped as the
 * saga's activities. They follow the contract the real services keep (docs/api.md#idempotency, #test-triggers):
 * - the same idempotency key replays the stored answer, business rejections included;
 * - a lookup (`lookupCharge`, `lookupOrder`) returns a key's stored answer, and fences a key that
 *   never ran: every later call under it is refused with `idempotency-key-fenced`;
 * - `tok_chargeDeclined` / `tok_insufficientFunds` decline, sku `OUT-OF-STOCK` is out of stock,
 *   an e-mail to `@bounce.test` is dead-lettered.
 * Tests add per-checkout hooks that run before a call's effect (to fail transiently or to
 * hold a call in flight), read `calls` to see what was sent with which key, and `effects` to see
 * what actually took effect (a replayed answer is not an effect).
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Activities } from '../../src/activities';
import type { Order } from '../../src/services/order/contract';

const CREATED_AT = '2025-01-01T00:00:00.000Z';

export type ActivityName = keyof Activities;
export interface RecordedCall {
  activity: ActivityName;
  checkoutId: string;
  key: string | undefined;
  args: unknown;
}
/** Something a call did, once, under its key: the first answer stored for it. */
export interface RecordedEffect {
  key: string;
  id: string;
}
/** Runs before a call's effect; `n` counts the calls of that activity for that checkout (1-based). */
export type Hook = (n: number) => void | Promise<void>;

export class FakeServices {
  readonly calls: RecordedCall[] = [];
  readonly effects: RecordedEffect[] = [];
  private readonly stored = new Map<string, { ok: true; value: unknown } | { ok: false; error: ApplicationFailure }>();
  private readonly hooks = new Map<string, Hook>();
  private readonly notificationOwner = new Map<string, string>();
  private seq = 0;

  /** Installs a hook for one checkout's activity. */
  on(checkoutId: string, activity: ActivityName, hook: Hook): void {
    this.hooks.set(`${checkoutId}/${activity}`, hook);
  }

  callsFor(checkoutId: string): RecordedCall[] {
    return this.calls.filter((c) => c.checkoutId === checkoutId);
  }

  /** The effects made under a checkout's keys (`chk_…:charge.refund` …), in the order made. */
  effectsFor(checkoutId: string): RecordedEffect[] {
    return this.effects.filter((e) => e.key.startsWith(`${checkoutId}:`));
  }

  private async enter(activity: ActivityName, checkoutId: string, key: string | undefined, args: unknown): Promise<void> {
    this.calls.push({ activity, checkoutId, key, args });
    const n = this.calls.filter((c) => c.checkoutId === checkoutId && c.activity === activity).length;
    await this.hooks.get(`${checkoutId}/${activity}`)?.(n);
  }

  /** The idempotency store: the first call's answer (or business rejection) is replayed. */
  private once<T>(key: string, effect: () => T): T {
    const prior = this.stored.get(key);
    if (prior) {
      if (prior.ok) return prior.value as T;
      throw prior.error;
    }
    try {
      const value = effect();
      this.stored.set(key, { ok: true, value });
      this.effects.push({ key, id: (value as { id?: string }).id ?? '' });
      return value;
    } catch (err) {
      if (err instanceof ApplicationFailure && err.nonRetryable) this.stored.set(key, { ok: false, error: err });
      throw err;
    }
  }

  /** The service's fence route: the stored answer, or a tombstone for a key that never ran. */
  private lookup<T>(key: string): T {
    if (!this.stored.has(key)) {
      const error = ApplicationFailure.nonRetryable('No request ran under this key; it is now closed', 'idempotency-key-fenced');
      this.stored.set(key, { ok: false, error });
    }
    return this.once<T>(key, () => {
      throw new Error('unreachable: the key is stored');
    });
  }

  private id(prefix: string): string {
    return `${prefix}_${++this.seq}`;
  }

  activities(): Activities {
    const checkoutOf = (key: string) => key.slice(0, key.lastIndexOf(':'));
    return {
      createCharge: async (call) => {
        await this.enter('createCharge', checkoutOf(call.idempotencyKey), call.idempotencyKey, call);
        return this.once(call.idempotencyKey, () => {
          const { paymentMethod, amount, currency, customerId } = call.request;
          if (paymentMethod === 'tok_chargeDeclined') throw ApplicationFailure.nonRetryable('The card was declined', 'card-declined');
          if (paymentMethod === 'tok_insufficientFunds') throw ApplicationFailure.nonRetryable('Insufficient funds', 'insufficient-funds');
          return { id: this.id('ch'), status: 'captured' as const, amount, currency, amountRefunded: 0, customerId, createdAt: CREATED_AT };
        });
      },
      lookupCharge: async (call) => {
        await this.enter('lookupCharge', checkoutOf(call.idempotencyKey), call.idempotencyKey, call);
        return this.lookup(call.idempotencyKey);
      },
      refundCharge: async (call) => {
        await this.enter('refundCharge', checkoutOf(call.idempotencyKey), call.idempotencyKey, call);
        return this.once(call.idempotencyKey, () => {
          const { chargeId, amount = 0 } = call.request;
          if (amount > 100_000) throw ApplicationFailure.nonRetryable('Too much', 'refund-exceeds-charge');
          return { id: this.id('re'), chargeId, amount, currency: 'USD', createdAt: CREATED_AT };
        });
      },
      createOrder: async (call) => {
        await this.enter('createOrder', checkoutOf(call.idempotencyKey), call.idempotencyKey, call);
        return this.once(call.idempotencyKey, () => {
          if (call.request.items.some((i) => i.sku === 'OUT-OF-STOCK')) throw ApplicationFailure.nonRetryable('SKU OUT-OF-STOCK', 'out-of-stock');
          const { customerId, chargeId, items } = call.request;
          const amount = items.reduce((sum, i) => sum + i.quantity * i.unitAmount, 0);
          return { id: this.id('ord'), status: 'created' as const, customerId, chargeId, amount, items, createdAt: CREATED_AT, cancelledAt: null };
        });
      },
      lookupOrder: async (call) => {
        await this.enter('lookupOrder', checkoutOf(call.idempotencyKey), call.idempotencyKey, call);
        return this.lookup(call.idempotencyKey);
      },
      cancelOrder: async (call) => {
        await this.enter('cancelOrder', checkoutOf(call.idempotencyKey), call.idempotencyKey, call);
        return this.once(call.idempotencyKey, () => {
          const created = [...this.stored.values()].find((s) => s.ok && (s.value as Order).id === call.orderId);
          return { ...((created?.ok && created.value) as Order), status: 'cancelled' as const, cancelledAt: CREATED_AT };
        });
      },
      sendNotification: async (call) => {
        const checkoutId = checkoutOf(call.idempotencyKey);
        await this.enter('sendNotification', checkoutId, call.idempotencyKey, call);
        return this.once(call.idempotencyKey, () => {
          const id = this.id('ntf');
          this.notificationOwner.set(id, `${checkoutId}|${call.request.to}`);
          return { id, status: 'pending' as const, messageId: `<${id}@test>` };
        });
      },
      awaitNotificationDelivery: async (args) => {
        const [checkoutId = '', to = ''] = (this.notificationOwner.get(args.notificationId) ?? '').split('|');
        await this.enter('awaitNotificationDelivery', checkoutId, undefined, args);
        const status = to.endsWith('@bounce.test') ? ('dead' as const) : ('sent' as const);
        return {
          id: args.notificationId,
          status,
          messageId: `<${args.notificationId}@test>`,
          to,
          template: 'order-confirmation',
          attempts: 1,
          lastError: null,
          createdAt: CREATED_AT,
          nextAttemptAt: null,
          sentAt: status === 'sent' ? CREATED_AT : null,
        };
      },
    };
  }
}

/** A promise with its resolver, to hold a call in flight until the test lets it go. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}
