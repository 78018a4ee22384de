/**
 * Money is an integer count of minor units plus an ISO 4217 currency, never a float.
 * Pure: used by the API to validate and total a checkout, and by workflows for summaries.
 */

/** Supported currencies and their minor-unit exponent (JPY has none). */
export const CURRENCIES: Readonly<Record<string, number>> = {
  USD: 2, EUR: 2, GBP: 2, CHF: 2, CAD: 2, AUD: 2, SEK: 2, NOK: 2, DKK: 2, PLN: 2, JPY: 0,
};

/** Sum of quantity × unit amount; exact for every total up to MAX_SAFE_INTEGER. */
export function orderTotal(items: ReadonlyArray<{ quantity: number; unitAmount: number }>): number {
  let total = 0;
  for (const { quantity, unitAmount } of items) {
    total += quantity * unitAmount;
    if (!Number.isSafeInteger(total)) return Number.POSITIVE_INFINITY;
  }
  return total;
}

const SYMBOLS: Readonly<Record<string, string>> = { USD: '$', EUR: '€', GBP: '£' };

/**
 * `formatMoney(3998, 'USD')` → `"$39.98"`, `formatMoney(500, 'JPY')` → `"500 JPY"`: for UI
 * summaries and messages, never arithmetic. Integer arithmetic only.
 */
export function formatMoney(amount: number, currency: string): string {
  const code = currency.toUpperCase();
  const exponent = CURRENCIES[code] ?? 2;
  const sign = amount < 0 ? '-' : '';
  const abs = Math.abs(amount);
  const unit = 10 ** exponent;
  const value = exponent === 0 ? String(abs) : `${Math.floor(abs / unit)}.${String(abs % unit).padStart(exponent, '0')}`;
  const symbol = SYMBOLS[code];
  return symbol ? `${sign}${symbol}${value}` : `${sign}${value} ${code}`;
}
