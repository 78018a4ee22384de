/** Secrets never printed (issue 8, item 10): URL passwords and configured secrets are masked. */
import os from 'node:os';
import { DEV_API_KEY, loadConfig } from '../../src/platform/config';
import { configSecrets, redactSecrets, redactUrl } from '../../tools/dev/redact';

test('a URL password is masked, the rest of the URL kept exactly', () => {
  expect(redactUrl('postgres://postgres:postgres@127.0.0.1:5432/postgres')).toBe('postgres://postgres:***@127.0.0.1:5432/postgres');
  expect(redactUrl('postgres://saga:p%40ss:w0rd@db:5432/x?sslmode=require')).toBe('postgres://saga:***@db:5432/x?sslmode=require');
  expect(redactUrl('postgres://:only-password@db/x')).toBe('postgres://:***@db/x');
  for (const plain of ['postgres://saga@db/x', 'http://127.0.0.1:3000/docs', '127.0.0.1:7233']) expect(redactUrl(plain)).toBe(plain);
});

test('in a line: every URL password, and the configured secrets; the dev API key (printed on purpose) is not one', () => {
  const config = loadConfig({
    HOME: os.tmpdir(),
    SERVICE_TOKEN: 'svc-token-42abc',
    API_KEYS: `sk_live_merchant_a:merchant_a,${DEV_API_KEY}:merchant_dev`,
    TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233',
    TEMPORAL_API_KEY: 'temporal-cloud-key',
  });
  const secrets = configSecrets(config);
  expect(secrets.sort()).toEqual(['sk_live_merchant_a', 'svc-token-42abc', 'temporal-cloud-key']);
  const line = 'a=postgres://u:pw@h/db b=smtp://x:y@m:25 token svc-token-42abc key sk_live_merchant_a dev sk_test_dev_merchant';
  expect(redactSecrets(line, secrets)).toBe('a=postgres://u:***@h/db b=smtp://x:***@m:25 token *** key *** dev sk_test_dev_merchant');
});
