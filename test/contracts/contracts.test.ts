/**
 * The services' contracts against the API's door. Seeded, so a failure repeats:
 * - many generated checkouts — most API-valid, some not — go through the API's own validation
 *   (its route schema with Fastify's ajv and options, the NUL guard, `checkoutRequestProblem`);
 *   for each one the API accepts, the exact bodies the saga sends (`src/saga/requests.ts`) pass
 *   every service's validation. A checkout the API lets in that a service would refuse fails here.
 * - every merchant id the config loader accepts from API_KEYS is a tenant the services accept.
 */
import fs from 'node:fs';
import path from 'node:path';
import AjvCompiler from '@fastify/ajv-compiler';
import { ConfigError, loadConfig, parseApiKeys } from '../../src/platform/config';
import { AJV_OPTIONS, containsNul } from '../../src/platform/http/base-app';
import { newId } from '../../src/platform/ids';
import { mulberry32 } from '../../src/platform/random';
import { checkoutIdFor } from '../../src/saga/keys';
import { CURRENCIES, orderTotal } from '../../src/saga/money';
import { chargeRequest, confirmationRequest, orderRequest, refundRequest } from '../../src/saga/requests';
import type { CheckoutInput } from '../../src/saga/types';
import { CHECKOUT_TOTAL, checkoutRequestProblem, type CheckoutRequest } from '../../src/services/checkout-api/contract';
import { createCheckoutSchema } from '../../src/services/checkout-api/schemas';
import { notificationRequestSchema } from '../../src/services/notification/contract';
import { MAX_ITEM_QUANTITY, MAX_ORDER_ITEMS, orderItemsProblem, orderRequestSchema } from '../../src/services/order/contract';
import { buildApp, migrations } from '../../src/services/payment/app';
import { chargeRequestSchema, PAYMENT_METHODS, refundRequestSchema } from '../../src/services/payment/contract';
import { startService, type RunningService } from '../services/support';

/** Validators built exactly as Fastify builds a route's: its ajv compiler with the base app's options. */
const compile = AjvCompiler()({}, { customOptions: AJV_OPTIONS });
const validator = (schema: object) => {
  const validate = compile({ schema, method: 'POST', url: '/', httpPart: 'body' });
  return (body: unknown) => !containsNul(body) && validate(body) === true;
};

const api = validator(createCheckoutSchema.body);
const apiAccepts = (c: CheckoutRequest) => api(c) && checkoutRequestProblem(c) === undefined;
const services = {
  'payment POST /charges': validator(chargeRequestSchema),
  'payment POST /refunds': validator(refundRequestSchema),
  'order POST /orders': validator(orderRequestSchema),
  'notification POST /notifications': validator(notificationRequestSchema),
};

// ---- a seeded generator of checkouts, drawn at and around every limit ----------------------

type Random = () => number;
const int = (random: Random, min: number, max: number) => min + Math.floor(random() * (max - min + 1));
const pick = <T>(random: Random, xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
/** Mostly ordinary values, often the bounds themselves, sometimes one step past them. */
const edgy = (random: Random, min: number, max: number) =>
  pick(random, [min, max, min - 1, max + 1, int(random, min, max), int(random, min, Math.min(max, min + 10))]);
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const word = (random: Random, chars: string, length: number) =>
  Array.from({ length }, () => chars[Math.floor(random() * chars.length)]).join('');
const sometimes = (random: Random, p: number) => random() < p;

function generateCheckout(random: Random): CheckoutRequest {
  const itemCount = sometimes(random, 0.8) ? int(random, 1, 3) : edgy(random, 1, MAX_ORDER_ITEMS);
  const items = Array.from({ length: Math.max(0, itemCount) }, (_, i) => ({
    sku: sometimes(random, 0.05) ? 'SKU-1' : `${word(random, `${ALNUM}_.-`, int(random, 0, 60))}${i}`,
    quantity: sometimes(random, 0.7) ? int(random, 1, 5) : edgy(random, 1, MAX_ITEM_QUANTITY),
    unitAmount: sometimes(random, 0.6) ? int(random, 1, 100_000) : edgy(random, CHECKOUT_TOTAL.minimum, CHECKOUT_TOTAL.maximum),
  }));
  const local = `${word(random, ALNUM, int(random, 1, 20))}${sometimes(random, 0.3) ? `+${word(random, ALNUM, 3)}` : ''}`;
  const domain = `${word(random, 'abcdefghij', int(random, 1, 12))}.${pick(random, ['com', 'test', 'example.org'])}`;
  const nul = sometimes(random, 0.03) ? '\u0000' : '';
  return {
    customerId: `${word(random, `${ALNUM}_.:-`, int(random, 0, 64))}${nul}`,
    email: sometimes(random, 0.02) ? `${'x'.repeat(250)}@a.co` : `${local}@${domain}`,
    currency: sometimes(random, 0.97) ? pick(random, Object.keys(CURRENCIES)) : 'XYZ',
    items,
    paymentMethod: sometimes(random, 0.97) ? pick(random, PAYMENT_METHODS) : 'tok_unknown',
  };
}

describe('every checkout the API accepts, every service accepts', () => {
  const SEED = 20_251_129;
  const CHECKOUTS = 5_000;

  test(`${CHECKOUTS} generated checkouts (seed ${SEED})`, () => {
    const random = mulberry32(SEED);
    const refusedByService: string[] = [];
    let accepted = 0;
    for (let n = 0; n < CHECKOUTS; n++) {
      const request = generateCheckout(random);
      if (!apiAccepts(request)) continue;
      accepted++;
      const input: CheckoutInput = {
        ...request,
        checkoutId: checkoutIdFor('merchant_a', `key-${n}`),
        merchantId: 'merchant_a',
        amount: orderTotal(request.items),
      };
      const chargeId = newId('ch');
      const sent = {
        'payment POST /charges': chargeRequest(input),
        'payment POST /refunds': refundRequest(chargeId, input.amount),
        'order POST /orders': orderRequest(input, chargeId),
        'notification POST /notifications': confirmationRequest(input, newId('ord')),
      };
      for (const [route, body] of Object.entries(sent)) {
        if (!services[route as keyof typeof services](body)) refusedByService.push(`${route} refuses ${JSON.stringify(body)}`);
      }
      if (orderItemsProblem(sent['order POST /orders'].items)) refusedByService.push(`order refuses items of ${JSON.stringify(request)}`);
    }
    expect(refusedByService).toEqual([]);
    // Not vacuous: most generated checkouts get in, and the generator also reaches refusals.
    expect(accepted).toBeGreaterThan(CHECKOUTS * 0.25);
    expect(accepted).toBeLessThan(CHECKOUTS);
  });

  test.each([
    ['an item priced 0', { items: [{ sku: 'SKU-1', quantity: 1, unitAmount: 0 }] }],
    ['the same SKU on two lines', { items: [{ sku: 'SKU-1', quantity: 1, unitAmount: 100 }, { sku: 'SKU-1', quantity: 2, unitAmount: 100 }] }],
    ['a total of 100,000,000', { items: [{ sku: 'SKU-1', quantity: 2, unitAmount: 50_000_000 }] }],
    ['a NUL in a string', { customerId: 'cus_\u0000' }],
    ['an unknown payment token', { paymentMethod: 'tok_unknown' }],
  ])('the API refuses what a service would: %s', (_name, over) => {
    const request: CheckoutRequest = {
      customerId: 'cus_1',
      email: 'a@example.com',
      currency: 'USD',
      items: [{ sku: 'SKU-1', quantity: 1, unitAmount: 100 }],
      paymentMethod: 'tok_visa',
      ...over,
    };
    expect(apiAccepts(request)).toBe(false);
  });
});

// ---- tenants ---------------------------------------------------------------------------------

describe('every configured merchant id is a tenant the services accept', () => {
  let payment: RunningService;
  beforeAll(async () => {
    payment = await startService('contract_tenants', migrations, buildApp);
  });
  afterAll(async () => payment?.close());

  /** 404 for a charge that does not exist: the tenant was accepted; 400 would mean refused. */
  const serviceAcceptsTenant = async (tenant: string) => {
    const res = await payment.call('GET', `/charges/${newId('ch')}`, { tenant });
    expect([400, 404]).toContain(res.status);
    return res.status === 404;
  };

  test('the merchants of the default config, docker-compose and the README', async () => {
    const configured = [...loadConfig({}).apiKeys.values()];
    const root = path.join(__dirname, '..', '..');
    for (const file of ['docker-compose.yml', 'README.md']) {
      for (const [, keys] of fs.readFileSync(path.join(root, file), 'utf8').matchAll(/API_KEYS(?::-|=)([^\s}`]+)/g)) {
        if (!keys!.includes('…')) configured.push(...parseApiKeys(keys!).values());
      }
    }
    expect(configured.length).toBeGreaterThan(1);
    for (const merchant of configured) expect(await serviceAcceptsTenant(merchant)).toBe(true);
  });

  test('a merchant id the services would refuse stops the config loader, with a clear error', () => {
    expect(() => loadConfig({ API_KEYS: 'sk_test_acme:acme corp' })).toThrow(ConfigError);
    expect(() => loadConfig({ API_KEYS: 'sk_test_acme:acme corp' })).toThrow(/merchant id "acme corp" is not a valid tenant id/);
  });

  test('seeded: the config loader accepts a merchant id exactly when the services accept it as a tenant', async () => {
    const random = mulberry32(7);
    const chars = `${ALNUM}_.-:  é/\u0000`;
    let acceptedCount = 0;
    for (let n = 0; n < 300; n++) {
      const merchant = pick(random, [word(random, chars, int(random, 1, 70)), word(random, `${ALNUM}_.-`, int(random, 1, 66))]);
      if (merchant.includes(',') || merchant.trim() !== merchant || merchant.includes(':') || merchant.includes('\u0000')) continue;
      let configAccepts: boolean;
      try {
        configAccepts = parseApiKeys(`sk_test_${n}:${merchant}`).get(`sk_test_${n}`) === merchant;
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        configAccepts = false;
      }
      if (configAccepts) acceptedCount++;
      expect([merchant, await serviceAcceptsTenant(merchant)]).toEqual([merchant, configAccepts]);
    }
    expect(acceptedCount).toBeGreaterThan(50);
  });
});
