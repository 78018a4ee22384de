/**
 * An in-memory stand-in for the payment, order and notification services, behind the real
 * `ServiceClient` interface and the real failure mapping. For API tests that exercise the
 * checkout API and Temporal but not the services (the end-to-end tests run the real ones).
 */
import type { ServiceName } from '../../src/platform/config';
import { problemType, type ProblemKind } from '../../src/platform/http/problem';
import { failureForResponse, type ServiceClient, type ServiceRequest } from '../../src/activities/service-client';

export interface FakeServices extends ServiceClient {
  /** Every mutating call, in order: `payment POST /charges <key>`. */
  calls: string[];
  count(prefix: string): number;
  /** How long every mutating call takes, changeable between tests. */
  latencyMs: number;
}

export interface FakeServiceOptions {
  /** Every mutating call takes this long (a service under load), so runs overlap as they would. */
  latencyMs?: number;
}

export function createFakeServices(options: FakeServiceOptions = {}): FakeServices {
  const calls: string[] = [];
  const responses = new Map<string, unknown>();
  const charges = new Map<string, { amount: number; amountRefunded: number }>();
  let seq = 0;

  const reject = (service: ServiceName, status: number, kind: ProblemKind) => {
    throw failureForResponse(service, status, { type: problemType(kind), status, title: kind });
  };

  function effect(service: ServiceName, req: ServiceRequest): unknown {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const id = `${++seq}`;
    if (service === 'payment' && req.path === '/charges') {
      if (body.paymentMethod === 'tok_chargeDeclined') reject(service, 402, 'card-declined');
      const charge = { id: `ch_${id}`, status: 'captured', amount: body.amount as number, currency: body.currency, amountRefunded: 0 };
      charges.set(charge.id, charge);
      return charge;
    }
    if (service === 'payment' && req.path === '/refunds') {
      const charge = charges.get(body.chargeId as string)!;
      if (charge.amountRefunded + (body.amount as number) > charge.amount) reject(service, 409, 'refund-exceeds-charge');
      charge.amountRefunded += body.amount as number;
      return { id: `re_${id}`, chargeId: body.chargeId, amount: body.amount };
    }
    if (service === 'order' && req.path === '/orders') {
      const items = body.items as { sku: string }[];
      if (items.some((i) => i.sku === 'OUT-OF-STOCK')) reject(service, 409, 'out-of-stock');
      return { id: `ord_${id}`, status: 'created' };
    }
    if (service === 'order') return { id: req.path.split('/')[2], status: 'cancelled' };
    return { id: `ntf_${id}`, status: 'pending', messageId: `<${id}@test>` };
  }

  return {
    calls,
    count: (prefix) => calls.filter((c) => c.startsWith(prefix)).length,
    latencyMs: options.latencyMs ?? 0,
    async call<T>(service: ServiceName, req: ServiceRequest): Promise<T> {
      if (req.method === 'GET') {
        if (service === 'payment') return charges.get(req.path.split('/')[2]!) as T;
        return { id: req.path.split('/')[2], status: 'sent', attempts: 1 } as T;
      }
      if (this.latencyMs) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
      // Deduplicate by key exactly as the real services do, so a retried activity is one effect.
      const scoped = `${req.tenantId} ${req.idempotencyKey}`;
      if (!responses.has(scoped)) {
        calls.push(`${service} ${req.method} ${req.path} ${req.idempotencyKey}`);
        try {
          responses.set(scoped, { ok: effect(service, req) });
        } catch (err) {
          responses.set(scoped, { err });
        }
      }
      const stored = responses.get(scoped) as { ok?: T; err?: unknown };
      if (stored.err) throw stored.err;
      return stored.ok as T;
    },
  };
}
