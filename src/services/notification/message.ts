/**
 * What a notification looks like on the wire: its Message-ID and its rendered content.
 */
import { createHash } from 'node:crypto';

export const MESSAGE_ID_DOMAIN = 'checkout-saga.local';
export const FROM_ADDRESS = `Checkout <no-reply@${MESSAGE_ID_DOMAIN}>`;

/**
 * The Message-ID is a function of (tenant, Idempotency-Key) only, so every copy of one
 * notification that ever reaches a mailbox, including a resend after a crash between SMTP
 * acceptance and recording it, carries the same id: receivers and the audit can deduplicate.
 * Parts are length-prefixed so ("a:b", "c") and ("a", "b:c") never collide.
 */
export function messageIdFor(tenant: string, key: string): string {
  const framed = [tenant, key].map((p) => `${Buffer.byteLength(p)}:${p}`).join('|');
  return `<${createHash('sha256').update(framed).digest('hex')}@${MESSAGE_ID_DOMAIN}>`;
}

const SUBJECTS: Record<string, string> = {
  'order-confirmation': 'Your order is confirmed',
  'refund-confirmation': 'Your refund is on its way',
};

/**
 * Renders a template. Templates are deliberately plain: a subject per known template (a
 * generic one otherwise, so a new saga template never blocks a confirmation) and the data
 * as "name: value" lines.
 */
export function render(template: string, data: Record<string, unknown>): { subject: string; text: string } {
  const subject = SUBJECTS[template] ?? `Notification: ${template}`;
  const lines = Object.entries(data)
    .filter(([, v]) => v !== null && typeof v !== 'object')
    .map(([k, v]) => `${k}: ${String(v)}`);
  return { subject, text: [subject, '', ...lines, ''].join('\n') };
}
