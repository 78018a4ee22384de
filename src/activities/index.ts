/**
 * The saga's activities: one thin function per service call, nothing else.
 *
 * Keys, amounts and ordering are decided by the workflow; an activity only turns its argument
 * into one HTTP request with the given idempotency key and tenant, and lets the service client
 * map the answer onto a Temporal failure. Built from injected dependencies so the worker wires
 * real HTTP and tests can wire anything.
 */
import { ApplicationFailure } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import type { ServiceClient } from './service-client';
import type {
  Charge,
  ChargeRequest,
  Notification,
  NotificationAccepted,
  NotificationRequest,
  Order,
  OrderRequest,
  Refund,
  RefundRequest,
  ServiceCall,
} from './types';

export interface ActivityDeps {
  services: ServiceClient;
}

/** Failure type of a delivery poll that found the e-mail still pending (retried by policy). */
export const NOTIFICATION_PENDING = 'notification-pending';

/** The workflow whose compensations `checkout_compensation_attempts_total` counts. */
const CHECKOUT_WORKFLOW = 'checkoutWorkflow';

/** Attempts of the checkout saga's compensations on the worker's metrics endpoint (docs/grafana-dashboard.json). */
export const COMPENSATION_ATTEMPTS_METRIC = 'checkout_compensation_attempts';

/**
 * Counts one attempt of a compensation (`charge.refund`, `order.cancel`) of a checkout run, by its
 * result, on the activity's metric meter: the Temporal runtime exports it on the worker's
 * Prometheus endpoint beside the SDK's own metrics, tagged with the activity and task queue. A
 * refund the merchant asked for (the refund workflow runs the same activity) is no compensation
 * and is not counted; neither is a plain unit call outside an activity.
 */
async function countedCompensation<T>(compensation: 'charge.refund' | 'order.cancel', attempt: () => Promise<T>): Promise<T> {
  let context: Context | undefined;
  try {
    context = Context.current();
  } catch {
    return attempt();
  }
  if (context.info.workflowType !== CHECKOUT_WORKFLOW) return attempt();
  const counter = context.metricMeter.createCounter(
    COMPENSATION_ATTEMPTS_METRIC,
    undefined,
    'Attempts of a checkout compensation (refund of the charge, cancellation of the order), by result',
  );
  try {
    const result = await attempt();
    counter.add(1, { compensation, result: 'succeeded' });
    return result;
  } catch (err) {
    counter.add(1, { compensation, result: 'failed' });
    throw err;
  }
}

/** The activity's cancellation signal when running as an activity; none in plain unit calls. */
function cancellation(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

export function createActivities({ services }: ActivityDeps) {
  const post = <T>(service: 'payment' | 'order' | 'notification', path: string, call: ServiceCall, body?: unknown) =>
    services.call<T>(service, {
      method: 'POST',
      path,
      tenantId: call.merchantId,
      idempotencyKey: call.idempotencyKey,
      body,
      signal: cancellation(),
    });

  /**
   * The outcome of an earlier call under `call.idempotencyKey`, learned without causing it
   * (the service's `POST /idempotency-keys/{key}/fence`): the stored answer of a call that
   * finished — its body, or the same failure its refusal was — or, for a call that never ran,
   * the non-retryable `idempotency-key-fenced`: it did not happen and now never will.
   */
  const lookup = <T>(service: 'payment' | 'order', call: ServiceCall) =>
    services.call<T>(service, {
      method: 'POST',
      path: `/idempotency-keys/${encodeURIComponent(call.idempotencyKey)}/fence`,
      tenantId: call.merchantId,
      signal: cancellation(),
    });

  return {
    async createCharge(call: ServiceCall & { request: ChargeRequest }): Promise<Charge> {
      return post<Charge>('payment', '/charges', call, call.request);
    },

    /** The charge made under the key, if any: see `lookup`. */
    async lookupCharge(call: ServiceCall): Promise<Charge> {
      return lookup<Charge>('payment', call);
    },

    async refundCharge(call: ServiceCall & { request: RefundRequest }): Promise<Refund> {
      return countedCompensation('charge.refund', () => post<Refund>('payment', '/refunds', call, call.request));
    },

    async createOrder(call: ServiceCall & { request: OrderRequest }): Promise<Order> {
      return post<Order>('order', '/orders', call, call.request);
    },

    /** The order made under the key, if any: see `lookup`. */
    async lookupOrder(call: ServiceCall): Promise<Order> {
      return lookup<Order>('order', call);
    },

    async cancelOrder(call: ServiceCall & { orderId: string }): Promise<Order> {
      return countedCompensation('order.cancel', () => post<Order>('order', `/orders/${encodeURIComponent(call.orderId)}/cancel`, call, {}));
    },

    /** Commits the e-mail to the notification service's outbox; its dispatcher owns SMTP retries. */
    async sendNotification(call: ServiceCall & { request: NotificationRequest }): Promise<NotificationAccepted> {
      return post<NotificationAccepted>('notification', '/notifications', call, call.request);
    },

    /**
     * Resolves once the e-mail is `sent` or `dead`. While it is `pending` the activity fails
     * with a retryable `notification-pending`, so the retry policy is the polling schedule:
     * no timers or loop iterations pile up in the workflow's history.
     */
    async awaitNotificationDelivery(args: { merchantId: string; notificationId: string }): Promise<Notification> {
      const notification = await services.call<Notification>('notification', {
        method: 'GET',
        path: `/notifications/${encodeURIComponent(args.notificationId)}`,
        tenantId: args.merchantId,
        signal: cancellation(),
      });
      if (notification.status === 'pending') {
        throw ApplicationFailure.retryable(`notification ${notification.id} is still pending`, NOTIFICATION_PENDING);
      }
      return notification;
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
