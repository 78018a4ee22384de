/**
 * Where each listener binds (issue 8, item 10): one HOST no longer moves every listener off
 * loopback. Only the API (API_HOST, or HOST as its alias) and the Web UI (TEMPORAL_UI_HOST) are
 * meant to face a network; every internal listener has its own variable and stays on 127.0.0.1.
 */
import os from 'node:os';
import { BIND_ENV, ConfigError, DEFAULT_PORTS, listenerOf, loadConfig, LOOPBACK, type Listener } from '../../src/platform/config';
import { devServerArgs } from '../../tools/dev/temporal-server';

const base = { HOME: os.tmpdir() };
const INTERNAL: Listener[] = ['temporal', 'payment', 'order', 'notification', 'mailbox', 'worker', 'postgres', 'temporalPostgres'];

test('by default every listener binds loopback, and every URL derived from the binds points there', () => {
  const config = loadConfig(base);
  expect(Object.values(config.binds).every((h) => h === LOOPBACK)).toBe(true);
  expect(config.apiUrl).toBe('http://127.0.0.1:3000');
  expect(config.temporal.address).toBe('127.0.0.1:7233');
  expect(new URL(config.databaseUrls.payment).host).toBe('127.0.0.1:5432');
});

test('HOST=0.0.0.0 moves the API alone: Temporal gRPC, the services, the mailbox and Postgres stay on loopback', () => {
  const config = loadConfig({ ...base, HOST: '0.0.0.0' });
  expect(config.binds.api).toBe('0.0.0.0');
  for (const l of [...INTERNAL, 'temporalUi' as const]) expect([l, config.binds[l]]).toEqual([l, LOOPBACK]);
  // A client on this machine reaches a wildcard bind over loopback.
  expect(config.apiUrl).toBe('http://127.0.0.1:3000');
  expect(config.serviceUrls).toEqual({ payment: 'http://127.0.0.1:3001', order: 'http://127.0.0.1:3002', notification: 'http://127.0.0.1:3003' });
  expect(config.temporal.address).toBe('127.0.0.1:7233');
  expect(config.smtpUrl).toBe('smtp://127.0.0.1:2525');
  expect(config.mailboxUrl).toBe('http://127.0.0.1:3004');
  for (const url of Object.values(config.databaseUrls)) expect(new URL(url).hostname).toBe('127.0.0.1');
});

test('API_HOST wins over HOST; TEMPORAL_UI_HOST moves the Web UI alone', () => {
  expect(loadConfig({ ...base, HOST: '0.0.0.0', API_HOST: '127.0.0.2' }).binds.api).toBe('127.0.0.2');
  const config = loadConfig({ ...base, TEMPORAL_UI_HOST: '0.0.0.0' });
  expect(config.binds.temporalUi).toBe('0.0.0.0');
  expect(config.binds.temporal).toBe(LOOPBACK);
  expect(config.temporal.uiUrl).toBe('http://localhost:8233');
});

test('each internal listener moves only by its own variable, and only it', () => {
  for (const listener of INTERNAL) {
    const config = loadConfig({ ...base, [BIND_ENV[listener]]: '10.1.2.3' });
    for (const [l, host] of Object.entries(config.binds)) expect([l, host]).toEqual([l, l === listener ? '10.1.2.3' : LOOPBACK]);
  }
  const config = loadConfig({ ...base, PAYMENT_HOST: '10.1.2.3', TEMPORAL_HOST: '::', POSTGRES_HOST: '10.1.2.4' });
  expect(config.serviceUrls.payment).toBe('http://10.1.2.3:3001');
  expect(config.temporal.address).toBe('[::1]:7233');
  expect(new URL(config.databaseUrls.order).host).toBe('10.1.2.4:5432');
});

test('one <NAME>_HOST variable per listener, no two alike; every port has its listener', () => {
  const names = Object.values(BIND_ENV);
  expect(new Set(names).size).toBe(names.length);
  expect(names.every((n) => /^[A-Z_]+_HOST$/.test(n))).toBe(true);
  for (const port of Object.keys(DEFAULT_PORTS) as (keyof typeof DEFAULT_PORTS)[]) expect(BIND_ENV).toHaveProperty(listenerOf(port));
});

test('a bind that is not an address is a ConfigError', () => {
  expect(() => loadConfig({ ...base, TEMPORAL_HOST: 'http://0.0.0.0' })).toThrow(ConfigError);
  expect(() => loadConfig({ ...base, API_HOST: 'a b' })).toThrow(/API_HOST/);
});

test('the dev server binds gRPC and the Web UI each where its own setting says', () => {
  const args = devServerArgs({ cliPath: 't', host: '127.0.0.1', port: 7233, uiPort: 8233, uiHost: '0.0.0.0' }).join(' ');
  expect(args).toContain('--ip 127.0.0.1 --port 7233');
  expect(args).toContain('--ui-ip 0.0.0.0');
});
