/**
 * Logging of every HTTP process (src/platform/http/logging.ts) on the real base app and metrics
 * plugin: one readable line per request in development, JSON in production, probes (health
 * checks, metrics scrapes) only at debug level, and no secret in either form.
 */
import { PassThrough } from 'node:stream';
import { loadConfig } from '../../src/platform/config';
import { createBaseApp } from '../../src/platform/http/base-app';
import { sdkLogger } from '../../src/platform/http/logging';
import metrics from '../../src/platform/http/metrics';

async function appLogging(level: string, nodeEnv: string | undefined): Promise<string[]> {
  const json = loadConfig({ NODE_ENV: nodeEnv }).logFormat === 'json';
  const out = new PassThrough();
  const lines: string[] = [];
  out.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)));
  {
    const app = createBaseApp({ log: { level, json, name: 'payment', destination: out } });
    await app.register(metrics, { service: 'payment' });
    app.get('/healthz', { config: { public: true, probe: true } }, async () => ({ status: 'ok' }));
    app.post('/charges', async (_request, reply) => reply.code(201).send({ id: 'ch_1' }));
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    await fetch(`${base}/healthz`);
    await fetch(`${base}/metrics`);
    await fetch(`${base}/charges`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk_secret_token', 'content-type': 'application/json' },
      body: JSON.stringify({ cardToken: 'tok_visa' }),
    });
    await fetch(`${base}/nope`);
    await app.close();
  }
  await new Promise((r) => setImmediate(r));
  expect(lines[0]).toMatch(/Server listening at/);
  return lines.slice(1);
}

test('development: one readable line per request; health checks and scrapes are not at info', async () => {
  const lines = await appLogging('info', 'development');
  expect(lines).toEqual([
    expect.stringMatching(/^\d\d:\d\d:\d\d\.\d{3} INFO  request reqId=req-3 method=POST url=\/charges status=201 ms=\d+$/),
    expect.stringMatching(/^\d\d:\d\d:\d\d\.\d{3} INFO  request reqId=req-4 method=GET url=\/nope status=404 ms=\d+$/),
  ]);
});

test('development at LOG_LEVEL=debug: the probes show, at debug level', async () => {
  const lines = await appLogging('debug', undefined);
  expect(lines.filter((l) => / DEBUG request /.test(l))).toEqual([
    expect.stringMatching(/url=\/healthz status=200/),
    expect.stringMatching(/url=\/metrics status=200/),
  ]);
  expect(lines.filter((l) => / INFO  request /.test(l))).toHaveLength(2);
});

test('NODE_ENV=production: JSON lines, same events, no token or card in them', async () => {
  const lines = await appLogging('info', 'production');
  const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(records).toEqual([
    expect.objectContaining({ level: 30, name: 'payment', msg: 'request', method: 'POST', url: '/charges', status: 201 }),
    expect.objectContaining({ level: 30, msg: 'request', method: 'GET', url: '/nope', status: 404 }),
  ]);
  expect(lines.join('\n')).not.toMatch(/sk_secret_token|tok_visa/);
});

test('LOG_FORMAT overrides the NODE_ENV default; anything else is a configuration error', () => {
  expect(loadConfig({ NODE_ENV: 'production', LOG_FORMAT: 'pretty' }).logFormat).toBe('pretty');
  expect(loadConfig({ LOG_FORMAT: 'json' }).logFormat).toBe('json');
  expect(() => loadConfig({ LOG_FORMAT: 'xml' })).toThrow(/LOG_FORMAT must be json or pretty/);
});

describe("the worker's SDK logger", () => {
  function sdkLines(level: string, json: boolean, write: (logger: ReturnType<typeof sdkLogger>) => void): string[] {
    const out = new PassThrough();
    const lines: string[] = [];
    out.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)));
    write(sdkLogger({ level, json, name: 'worker', destination: out }));
    return lines;
  }
  const bundlerStats = 'asset workflow-bundle.js 1.89 MiB [emitted]\nruntime modules 587 bytes\nwebpack compiled successfully';

  test('development: one readable line per event, the bundler statistics folded, debug lines hidden', () => {
    const lines = sdkLines('info', false, (log) => {
      log.info('Worker state changed', { sdkComponent: 'worker', state: 'RUNNING' });
      log.info(bundlerStats, { sdkComponent: 'worker' });
      log.debug('poll', { sdkComponent: 'worker' });
      log.warn('activity failed', { error: new Error('boom'), attempt: 2n });
    });
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO  Worker state changed sdkComponent=worker state=RUNNING$/);
    expect(lines[1]).toMatch(/INFO  asset workflow-bundle\.js 1\.89 MiB \[emitted\] \(\+2 lines at debug\)/);
    expect(lines[2]).toMatch(/WARN  activity failed .*attempt=2/);
    expect(lines.join('\n')).not.toMatch(/poll|webpack compiled/);
  });

  test('production: one JSON record per line, the whole message kept', () => {
    const lines = sdkLines('info', true, (log) => log.info(bundlerStats, { taskQueue: 'checkout' }));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 30, name: 'worker', msg: bundlerStats, taskQueue: 'checkout' });
  });
});

test('a database outage is a warning naming its cause, not an "unhandled error"; a real bug still is one', async () => {
  const out = new PassThrough();
  const records: Record<string, unknown>[] = [];
  out.on('data', (chunk: Buffer) => records.push(...chunk.toString().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)));
  const app = createBaseApp({ log: { level: 'info', json: true, name: 'order', destination: out } });
  app.get('/down', async () => {
    // What Postgres answers while it starts up or shuts down.
    throw Object.assign(new Error('the database system is starting up'), { code: '57P03' });
  });
  app.get('/bug', async () => {
    throw new TypeError("Cannot read properties of undefined (reading 'id')");
  });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const down = await fetch(`${base}/down`);
  const bug = await fetch(`${base}/bug`);
  await app.close();
  await new Promise((r) => setImmediate(r));
  expect(down.status).toBe(503);
  expect(bug.status).toBe(500);
  const problems = records.filter((r) => r.msg !== 'request' && !String(r.msg).startsWith('Server listening'));
  expect(problems).toEqual([
    expect.objectContaining({ level: 40, msg: 'database unavailable: answered 503', code: '57P03', cause: 'the database system is starting up' }),
    expect.objectContaining({ level: 50, msg: 'unhandled error' }),
  ]);
  expect(problems[0]).not.toHaveProperty('err');
});
