/**
 * What every JSON body must satisfy before it is parsed, whatever the route's schema: a bounded
 * nesting depth, no NUL character, and numbers a JavaScript number holds exactly.
 *
 * Why before parsing, on the raw text: after `JSON.parse` the damage is done. A body nested
 * thousands deep overflows any recursive walk of it (the request fingerprint, a serialiser); a
 * NUL is refused by Postgres (`text` and `jsonb`) only once the handler writes it, as a 500; and
 * `9007199254740993` parses to `9007199254740992`, so two different requests would share one
 * fingerprint and the handler would store a number the client never sent. Refusing such numbers
 * (400) is the choice here, rather than fingerprinting the raw text losslessly: the fingerprint
 * would then be exact but the handler would still act on the rounded value. Money is integer
 * minor units far below 2^53, so no legitimate request is refused.
 *
 * The scan is one linear pass with no recursion, so it is safe on any input the body limit lets in.
 */

/** Deeper than any request of this system (a checkout is 3 levels); far below a stack overflow. */
export const MAX_JSON_DEPTH = 32;

const NUMBER_CHAR = /[0-9eE+.-]/;

/** `[-]digits[.digits][e[+-]digits]` as (sign, significant digits, exponent), zeros trimmed: equal iff equal values. */
function decimalValue(literal: string): string {
  const m = /^(-?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(literal);
  if (!m) return literal;
  const [, sign, int = '', frac = '', exp = '0'] = m;
  let digits = int + frac;
  let exponent = Number(exp) - frac.length;
  const leading = digits.match(/^0*/)![0].length;
  digits = digits.slice(leading);
  const trailing = digits.match(/0*$/)![0].length;
  digits = digits.slice(0, digits.length - trailing);
  exponent += trailing;
  return digits === '' ? '0' : `${sign}${digits}e${exponent}`;
}

/** True when the number literal survives the trip through a double exactly. */
export function isExactNumber(literal: string): boolean {
  const n = Number(literal);
  if (!Number.isFinite(n)) return false;
  if (/^-?\d+$/.test(literal)) return Number.isSafeInteger(n);
  return decimalValue(literal) === decimalValue(String(n));
}

/** Why a JSON text must be refused, or undefined when it may be parsed. Never throws. */
export function refuseJson(text: string, maxDepth = MAX_JSON_DEPTH): string | undefined {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) {
        if (text[i] !== '\\') continue;
        i++;
        if (text[i] === 'u' && text.slice(i + 1, i + 5) === '0000') return 'A string contains a NUL character (\\u0000)';
      }
    } else if (c === '{' || c === '[') {
      if (++depth > maxDepth) return `The body is nested deeper than ${maxDepth} levels`;
    } else if (c === '}' || c === ']') {
      depth--;
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      const start = i;
      while (i + 1 < text.length && NUMBER_CHAR.test(text[i + 1]!)) i++;
      const literal = text.slice(start, i + 1);
      if (!isExactNumber(literal)) {
        return `The number ${literal.slice(0, 40)} cannot be represented exactly (integers must be within ±(2^53-1))`;
      }
    }
  }
  return undefined;
}
