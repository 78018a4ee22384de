/** config.temporal.connection comes from Temporal's environment configuration (@temporalio/envconfig). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/platform/config';
import { describeTemporalConnection } from '../../src/platform/temporal-connection';

const base = { HOME: os.tmpdir() };

test('no TEMPORAL_ADDRESS: the embedded dev server, plain', () => {
  const config = loadConfig({ ...base, TEMPORAL_PORT: '7300' });
  expect(config.temporal.embedded).toBe(true);
  expect(config.temporal.connection).toMatchObject({ address: '127.0.0.1:7300' });
  expect(config.temporal.connection.tls).toBeFalsy();
});

test('an API key turns TLS on (Temporal Cloud) and is never printed', () => {
  const env = { ...base, TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_NAMESPACE: 'ns.acct', TEMPORAL_API_KEY: 'secret-key' };
  const config = loadConfig(env);
  expect(config.temporal).toMatchObject({ embedded: false, namespace: 'ns.acct', connection: { address: 'ns.acct.tmprl.cloud:7233', apiKey: 'secret-key', tls: true } });
  const described = describeTemporalConnection(config, env);
  expect(described).toContain('API key set');
  expect(described).not.toContain('secret-key');
});

test('a profile file names the address, namespace and CA', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'envconfig-'));
  fs.writeFileSync(path.join(dir, 'ca.pem'), 'not really a CA');
  fs.writeFileSync(
    path.join(dir, 'temporal.toml'),
    `[profile.prod]\naddress = "temporal.internal:7233"\nnamespace = "checkout"\n[profile.prod.tls]\nserver_ca_cert_path = "${path.join(dir, 'ca.pem')}"\nserver_name = "temporal.internal"\n`,
  );
  const config = loadConfig({ ...base, TEMPORAL_CONFIG_FILE: path.join(dir, 'temporal.toml'), TEMPORAL_PROFILE: 'prod' });
  expect(config.temporal).toMatchObject({ embedded: false, address: 'temporal.internal:7233', namespace: 'checkout' });
  expect(config.temporal.connection.tls).toMatchObject({ serverNameOverride: 'temporal.internal' });
});

test('a CA file that cannot be read fails the config, naming the setting', () => {
  expect(() => loadConfig({ ...base, TEMPORAL_ADDRESS: 'x:1', TEMPORAL_TLS_SERVER_CA_CERT_PATH: '/nonexistent/ca.pem' })).toThrow(ConfigError);
  expect(() => loadConfig({ ...base, TEMPORAL_ADDRESS: 'x:1', TEMPORAL_TLS_SERVER_CA_CERT_PATH: '/nonexistent/ca.pem' })).toThrow(/TEMPORAL_.*nonexistent\/ca\.pem/);
});
