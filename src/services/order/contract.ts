/**
 * The order service's contract: what `POST /orders` accepts and what it, `POST /orders/{id}/cancel`
 * and `GET /orders/{id}` answer. Defined once, here; the service validates with these schemas, the
 * activities send these types, and the checkout API builds its items schema from these fragments.
 */
import { amountSchema, refSchema, timestampSchema } from '../../platform/http/schemas';

export const MAX_ORDER_ITEMS = 50;
export const MAX_ITEM_QUANTITY = 1_000;

export const skuSchema = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' } as const;

export interface OrderItem {
  sku: string;
  quantity: number;
  /** Price of one unit, in minor units. */
  unitAmount: number;
}

export const orderItemSchema = {
  type: 'object',
  required: ['sku', 'quantity', 'unitAmount'],
  additionalProperties: false,
  properties: {
    sku: skuSchema,
    quantity: { type: 'integer', minimum: 1, maximum: MAX_ITEM_QUANTITY },
    unitAmount: amountSchema,
  },
} as const;

export const orderItemsSchema = { type: 'array', minItems: 1, maxItems: MAX_ORDER_ITEMS, items: orderItemSchema } as const;

/**
 * What the items schema cannot say: one line per SKU, since a second line would make "reserve N"
 * ambiguous. Returns the refusal's detail, or undefined when the items are acceptable.
 */
export function orderItemsProblem(items: ReadonlyArray<Pick<OrderItem, 'sku'>>): string | undefined {
  const seen = new Set<string>();
  for (const { sku } of items) {
    if (seen.has(sku)) return `Each SKU may appear in one item only; ${sku} appears more than once`;
    seen.add(sku);
  }
  return undefined;
}

export interface OrderRequest {
  customerId: string;
  chargeId: string;
  items: OrderItem[];
}

export const orderRequestSchema = {
  type: 'object',
  required: ['customerId', 'chargeId', 'items'],
  additionalProperties: false,
  properties: { customerId: refSchema, chargeId: refSchema, items: orderItemsSchema },
} as const;

export interface Order {
  id: string;
  status: 'created' | 'cancelled';
  customerId: string;
  chargeId: string;
  amount: number;
  items: OrderItem[];
  createdAt: string;
  cancelledAt: string | null;
}

export const orderSchema = {
  type: 'object',
  required: ['id', 'status', 'customerId', 'chargeId', 'amount', 'items', 'createdAt', 'cancelledAt'],
  properties: {
    id: refSchema,
    status: { enum: ['created', 'cancelled'] },
    customerId: refSchema,
    chargeId: refSchema,
    amount: { type: 'integer', minimum: 1 },
    items: { type: 'array', items: orderItemSchema },
    createdAt: timestampSchema,
    cancelledAt: { anyOf: [timestampSchema, { type: 'null' }] },
  },
} as const;
