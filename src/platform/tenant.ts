/**
 * A tenant id: the merchant a request acts for. The checkout API maps each API key onto one
 * (`API_KEYS=key:merchant`) and every service scopes its rows and idempotency keys by it
 * (`X-Tenant-Id`). One definition, read by the config loader (a merchant id the services would
 * refuse stops the process at start) and by the services' tenant check.
 */
export const TENANT_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$';
export const TENANT_ID_RULE = '1-64 characters of [A-Za-z0-9_.-], starting with a letter or a digit';

export const tenantIdSchema = { type: 'string', pattern: TENANT_ID_PATTERN } as const;

const tenantId = new RegExp(TENANT_ID_PATTERN);

export function isTenantId(value: string): boolean {
  return tenantId.test(value);
}
