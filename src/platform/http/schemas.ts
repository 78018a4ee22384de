/**
 * JSON-schema fragments shared by the services' routes, so a limit means the same thing
 * everywhere (an amount the payment service accepts is one the order service accepts).
 */

/** Integer minor units (cents), never floats; the ceiling is a sanity bound, not a business rule. */
export const MAX_AMOUNT = 99_999_999;
export const amountSchema = { type: 'integer', minimum: 1, maximum: MAX_AMOUNT } as const;

/** ISO 4217 shape; whether the code exists is the checkout API's concern. */
export const currencySchema = { type: 'string', pattern: '^[A-Z]{3}$' } as const;

/** Opaque references passed between services (customer ids, resource ids). */
export const refSchema = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.:-]+$' } as const;

export const timestampSchema = { type: 'string', format: 'date-time' } as const;

/** `params` for `/{resource}/:id` routes. */
export const idParamsSchema = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: { id: refSchema },
} as const;
