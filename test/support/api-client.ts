/** Calls to the checkout API over real HTTP, as a shop's backend makes them. */

export interface ApiCallOptions {
  key?: string;
  /** The merchant's API key; null sends no Authorization header. */
  apiKey?: string | null;
  body?: unknown;
  prefer?: string;
}

export interface ApiAnswer {
  status: number;
  headers: Headers;
  body: any;
  /** How long the answer took, in ms. */
  ms: number;
}

/** A caller bound to the API at `base()` (read per call: tests learn the address in beforeAll). */
export function apiCaller(base: () => string, defaultApiKey: string) {
  return async function call(method: string, path: string, opts: ApiCallOptions = {}): Promise<ApiAnswer> {
    const headers: Record<string, string> = {};
    if (opts.apiKey !== null) headers.authorization = `Bearer ${opts.apiKey ?? defaultApiKey}`;
    if (opts.key !== undefined) headers['idempotency-key'] = opts.key;
    if (opts.prefer) headers.prefer = opts.prefer;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const started = performance.now();
    const res = await fetch(`${base()}${path}`, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined, ms: performance.now() - started };
  };
}
