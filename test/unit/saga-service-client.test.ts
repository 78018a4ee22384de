/** The activities' HTTP client: headers, timeouts, and how each answer maps onto a Temporal failure. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { createServiceClient, failureForResponse, parseRetryAfter, type ServiceClient } from '../../src/activities/service-client';
import { problemType } from '../../src/platform/http/problem';

const problem = (kind: Parameters<typeof problemType>[0], detail?: string) => ({ type: problemType(kind), title: kind, detail });

describe('failureForResponse', () => {
  test.each([
    [402, 'card-declined'],
    [402, 'insufficient-funds'],
    [409, 'out-of-stock'],
    [409, 'refund-exceeds-charge'],
    [422, 'idempotency-key-reused'],
    [400, 'validation-error'],
    [404, 'not-found'],
  ] as const)('%d %s → non-retryable, type = the kind', (status, kind) => {
    const failure = failureForResponse('payment', status, problem(kind, 'why'));
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: kind, nonRetryable: true });
    expect(failure.message).toBe(`payment answered ${status}: why`);
  });

  test.each([
    [409, problem('idempotency-key-in-use'), 'idempotency-key-in-use'],
    [503, problem('unavailable'), 'unavailable'],
    [503, problem('injected-fault'), 'injected-fault'],
    [500, 'oops', 'http-500'],
    [502, undefined, 'http-502'],
    [429, undefined, 'http-429'],
    [401, problem('unauthorized'), 'unauthorized'],
  ])('%d → retryable (%s)', (status, body, type) => {
    expect(failureForResponse('order', status, body, 1500)).toMatchObject({ type, nonRetryable: false });
  });

  test('Retry-After becomes the next retry delay', () => {
    expect(failureForResponse('order', 409, problem('idempotency-key-in-use'), 2000).nextRetryDelay).toBe(2000);
    expect(parseRetryAfter('2')).toBe(2000);
    expect(parseRetryAfter('3600')).toBe(30_000);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
  });

  test('an unknown 4xx without a problem body is definitive', () => {
    expect(failureForResponse('notification', 404, 'Not Found')).toMatchObject({ type: 'http-404', nonRetryable: true });
  });
});

describe('createServiceClient against a local HTTP server', () => {
  let server: http.Server;
  let client: ServiceClient;
  const seen: http.IncomingHttpHeaders[] = [];
  let answer: (res: http.ServerResponse) => void = (res) => res.end();

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push(req.headers);
      req.resume().on('end', () => answer(res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    client = createServiceClient({
      baseUrls: { payment: url, order: url, notification: url },
      serviceToken: 'secret',
      timeoutMs: 2_000,
    });
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const json = (status: number, body: unknown, headers: Record<string, string> = {}) => (res: http.ServerResponse) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
  };

  test('sends the token, tenant and key; returns the body of a 2xx', async () => {
    answer = json(201, { id: 'ch_1' });
    const body = await client.call('payment', {
      method: 'POST',
      path: '/charges',
      tenantId: 'merchant_a',
      idempotencyKey: 'chk_1:charge',
      body: { amount: 1 },
    });
    expect(body).toEqual({ id: 'ch_1' });
    expect(seen.at(-1)).toMatchObject({
      authorization: 'Bearer secret',
      'x-tenant-id': 'merchant_a',
      'idempotency-key': 'chk_1:charge',
      'content-type': 'application/json',
    });
  });

  test('a problem answer becomes the mapped failure', async () => {
    answer = json(409, problem('idempotency-key-in-use'), { 'retry-after': '1' });
    await expect(client.call('payment', { method: 'POST', path: '/charges', tenantId: 'm', body: {} })).rejects.toMatchObject({
      type: 'idempotency-key-in-use',
      nonRetryable: false,
      nextRetryDelay: 1000,
    });
  });

  test('no answer within the timeout: retryable timeout', async () => {
    answer = () => undefined; // never answers
    await expect(client.call('order', { method: 'GET', path: '/orders/1', tenantId: 'm' })).rejects.toMatchObject({
      type: 'timeout',
      nonRetryable: false,
    });
  });

  test('connection reset: retryable connection error', async () => {
    answer = (res) => res.socket?.destroy();
    await expect(client.call('order', { method: 'GET', path: '/orders/1', tenantId: 'm' })).rejects.toMatchObject({
      type: 'connection-error',
      nonRetryable: false,
    });
  });
});
