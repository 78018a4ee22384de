/**
 * What the development tools print and write never carries a secret: a password in a URL shows as
 * `***`, and the configured secrets (SERVICE_TOKEN, API keys other than the development key the
 * banner shows on purpose, TEMPORAL_API_KEY) are masked wherever they appear in a line.
 */
import { DEV_API_KEY, type Config } from '../../src/platform/config';

export const MASK = '***';

/** scheme://user:password@ — the password part (no `@`, `/` or whitespace in it, as in a valid URL). */
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]+@/gi;

/** The URL with its password (if any) replaced by `***`, the rest exactly as given. */
export function redactUrl(url: string): string {
  return url.replace(URL_PASSWORD, `$1${MASK}@`);
}

/** Secrets of `config` that must not appear in anything printed; shorter values would mask ordinary words. */
export function configSecrets(config: Pick<Config, 'serviceToken' | 'apiKeys' | 'temporal'>): string[] {
  const secrets = [config.serviceToken, ...[...config.apiKeys.keys()].filter((k) => k !== DEV_API_KEY)];
  const temporalKey = config.temporal.connection.apiKey;
  if (typeof temporalKey === 'string') secrets.push(temporalKey);
  return [...new Set(secrets.filter((s) => s.length >= 6))].sort((a, b) => b.length - a.length);
}

/** `text` with every URL password and every one of `secrets` replaced by `***`. */
export function redactSecrets(text: string, secrets: readonly string[] = []): string {
  let out = redactUrl(text);
  for (const secret of secrets) out = out.split(secret).join(MASK);
  return out;
}
