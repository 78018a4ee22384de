/**
 * `npm run docs:api`: writes the generated parts of docs/api.md from the code, each between its
 * markers: every route of the checkout API and of the three services (method, path, credentials,
 * headers, parameters, body fields and the answers each route declares) from the route schemas
 * the apps validate with, and the problem kinds from src/platform/http/problem.ts. The rest of
 * docs/api.md is written by hand. test/lint/api-docs.test.ts
 * regenerates it in memory and fails when the committed file is stale.
 *
 * The apps are built as their entry points build them, but never started: routes are collected
 * through Fastify's `onRoute` hook, attached to each instance as Fastify creates it (its
 * `fastify.initialization` diagnostics channel), so nothing listens, no hook of `ready` runs and
 * the database is never reached (the pool points nowhere and is never asked for a connection).
 * Whatever routes the apps declare are what the reference shows: add a route, rerun.
 */
import diagnostics from 'node:diagnostics_channel';
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { Pool } from 'pg';
import { loadConfig, type Config } from '../../src/platform/config';
import { PROBLEM_KINDS, PROBLEM_TYPE_BASE } from '../../src/platform/http/problem';
import { buildApiApp } from '../../src/services/checkout-api/app';
import { buildApp as buildNotificationApp } from '../../src/services/notification/app';
import { buildApp as buildOrderApp } from '../../src/services/order/app';
import { buildApp as buildPaymentApp } from '../../src/services/payment/app';

export const API_DOC = path.resolve(__dirname, '../../docs/api.md');

/** The generated parts of docs/api.md, each between its own pair of markers. */
export const PARTS = ['problem-kinds', 'routes'] as const;
export type PartName = (typeof PARTS)[number];

export const beginMarker = (part: PartName) =>
  `<!-- BEGIN GENERATED ${part}: \`npm run docs:api\` writes this part from the code; edit the code, not this -->`;
export const endMarker = (part: PartName) => `<!-- END GENERATED ${part} -->`;

type Json = Record<string, unknown>;

interface Route {
  method: string;
  url: string;
  schema: Json;
  config: { public?: boolean; probe?: boolean; idempotent?: boolean; faultPoint?: string };
}

interface Surface {
  title: string;
  anchor: string;
  port: number;
  credentials: string;
  build(config: Config, pool: Pool): Promise<FastifyInstance>;
}

/**
 * One line for routes whose schema carries no `summary` (the services' routes); a route the
 * schema summarises uses its own.
 */
const ROUTE_NOTES: Record<string, string> = {
  'POST /charges': 'Charge a test card; captured at once',
  'POST /refunds': 'Refund part or all of a charge (omit `amount` for the rest)',
  'GET /charges/{id}': 'Read a charge with its refunds',
  'POST /orders': 'Create an order, reserving the stock of every item in one transaction',
  'POST /orders/{id}/cancel': 'Cancel an order, releasing its stock once',
  'GET /orders/{id}': 'Read an order',
  'POST /notifications': 'Queue an e-mail in the outbox (sent by the dispatcher)',
  'GET /notifications/{id}': 'Read a notification and its delivery',
  'POST /idempotency-keys/{key}/fence': 'Learn the outcome of a key without causing it (see [Idempotency](#idempotency))',
  'GET /healthz': 'Readiness: 200 when the process can serve (its database answers)',
  'GET /metrics': 'Prometheus metrics (text exposition format)',
  'GET /docs': 'The OpenAPI document of this API, generated from the same schemas',
};

/** A value that must not be used while the reference is generated; any use says so. */
function absent(name: string): unknown {
  const fail = () => {
    throw new Error(`${name} is not available while the API reference is generated`);
  };
  return new Proxy(fail, { get: (_t, p) => (p === 'then' ? undefined : absent(`${name}.${String(p)}`)), apply: fail });
}

/** Dependencies as an entry point passes them: the config and the pool are real, nothing else is used. */
function deps<T>(given: Record<string, unknown>): T {
  return new Proxy(given, { get: (t, p) => (p in t ? t[p as string] : absent(String(p))) }) as T;
}

const SURFACES = (config: Config): Surface[] => [
  {
    title: 'Checkout API',
    anchor: 'checkout-api',
    port: config.ports.api,
    credentials: 'merchant API key',
    build: (c, pool) => buildApiApp(deps({ config: c, pool })),
  },
  {
    title: 'Payment service',
    anchor: 'payment-service',
    port: config.ports.payment,
    credentials: 'service token',
    build: (c, pool) => buildPaymentApp(deps({ config: c, pool })),
  },
  {
    title: 'Order service',
    anchor: 'order-service',
    port: config.ports.order,
    credentials: 'service token',
    build: (c, pool) => buildOrderApp(deps({ config: c, pool })),
  },
  {
    title: 'Notification service',
    anchor: 'notification-service',
    port: config.ports.notification,
    credentials: 'service token',
    build: (c, pool) => buildNotificationApp(deps({ config: c, pool, dispatch: false })),
  },
];

/** Every route an app registers (HEAD twins of GET routes left out), as Fastify sees it. */
async function collectRoutes(build: () => Promise<FastifyInstance>): Promise<Route[]> {
  const routes: Route[] = [];
  const channel = diagnostics.channel('fastify.initialization');
  const attach = (message: unknown) => {
    (message as { fastify: FastifyInstance }).fastify.addHook('onRoute', (route: RouteOptions) => {
      for (const method of [route.method].flat()) {
        if (method === 'HEAD') continue;
        routes.push({
          method,
          url: route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}'),
          schema: (route.schema ?? {}) as Json,
          config: (route.config ?? {}) as Route['config'],
        });
      }
    });
  };
  channel.subscribe(attach);
  try {
    await build();
  } finally {
    channel.unsubscribe(attach);
  }
  return routes;
}

// ---- JSON schema → Markdown ------------------------------------------------------------------

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const code = (s: string) => '`' + s + '`';

function typeOf(s: Json): string {
  if (s.const !== undefined) return code(JSON.stringify(s.const));
  if (Array.isArray(s.enum)) return s.enum.map((v) => code(String(v))).join(', ');
  if (Array.isArray(s.anyOf)) return (s.anyOf as Json[]).map(typeOf).join(' or ');
  const types = [s.type ?? 'any'].flat() as string[];
  return types
    .map((t) => {
      if (t === 'array') {
        const items = (s.items ?? {}) as Json;
        return items.properties ? 'array of objects' : `array of ${typeOf(items)}`;
      }
      return t === 'string' && typeof s.format === 'string' ? `string (${s.format})` : t;
    })
    .join(' or ');
}

function range(min: unknown, max: unknown, unit = ''): string | undefined {
  if (min === undefined && max === undefined) return undefined;
  if (min !== undefined && max !== undefined) return min === max ? `exactly ${min}${unit}` : `${min}–${max}${unit}`;
  return min !== undefined ? `≥ ${min}${unit}` : `≤ ${max}${unit}`;
}

function constraints(s: Json): string {
  const parts = [
    range(s.minimum, s.maximum),
    range(s.minLength, s.maxLength, ' chars'),
    range(s.minItems, s.maxItems, ' items'),
    s.maxProperties !== undefined ? `≤ ${s.maxProperties} properties` : undefined,
    typeof s.pattern === 'string' ? code(s.pattern) : undefined,
    s.additionalProperties === false && s.properties ? 'no other fields' : undefined,
  ];
  return parts.filter(Boolean).join('; ');
}

interface FieldRow {
  name: string;
  type: string;
  required: boolean;
  constraints: string;
  description: string;
}

/** The fields of an object schema, nested objects and arrays of objects flattened (`items[].sku`). */
function fields(schema: Json, prefix = ''): FieldRow[] {
  const props = (schema.properties ?? {}) as Record<string, Json>;
  const required = new Set((schema.required ?? []) as string[]);
  const rows: FieldRow[] = [];
  for (const [name, prop] of Object.entries(props)) {
    const full = prefix + name;
    rows.push({
      name: full,
      type: typeOf(prop),
      required: required.has(name),
      constraints: constraints(prop),
      description: typeof prop.description === 'string' ? prop.description : '',
    });
    const items = prop.items as Json | undefined;
    if (prop.properties) rows.push(...fields(prop, `${full}.`));
    else if (items?.properties) rows.push(...fields(items, `${full}[].`));
  }
  return rows;
}

function fieldTable(schema: Json, withRequired: boolean, first = 'field'): string[] {
  const rows = fields(schema);
  if (rows.length === 0) return [];
  const head = [first, 'type', ...(withRequired ? ['required'] : []), 'constraints', 'description'];
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => {
      const cols = [code(r.name), r.type, ...(withRequired ? [r.required ? 'yes' : ''] : []), r.constraints, r.description];
      return `| ${cols.map(cell).join(' | ')} |`;
    }),
  ];
}

/**
 * Responses grouped by identical schema, so the same resource is described once; `seen` maps a
 * schema already described (by an earlier route of the same surface) to that route.
 */
function responses(schema: Json, seen: Map<string, string>, title: string): string[] {
  const declared = (schema.response ?? {}) as Record<string, Json>;
  const groups: { codes: string[]; descriptions: string[]; schema: Json; key: string }[] = [];
  for (const [status, response] of Object.entries(declared)) {
    const { description, ...body } = response;
    const key = JSON.stringify(body);
    const group = groups.find((g) => g.key === key);
    const note = typeof description === 'string' ? `${status}: ${description}` : undefined;
    if (group) {
      group.codes.push(status);
      if (note) group.descriptions.push(note);
    } else {
      groups.push({ codes: [status], descriptions: note ? [note] : [], schema: body, key });
    }
  }
  const out: string[] = [];
  for (const g of groups) {
    const isProblem = g.codes.every((c) => /^[45]/.test(c));
    if (isProblem) {
      out.push(`**${g.codes.join(', ')}** — \`application/problem+json\` ([problem types](#problem-types))`, '');
      continue;
    }
    out.push(`**${g.codes.join(', ')}**`);
    if (g.descriptions.length) out.push('', ...g.descriptions.map((d) => `- ${d}`));
    const earlier = seen.get(g.key);
    if (earlier) out.push('', `The same fields as the answer of ${code(earlier)}.`);
    else {
      const table = fieldTable(g.schema, false);
      if (table.length) {
        out.push('', ...table);
        seen.set(g.key, title);
      }
    }
    out.push('');
  }
  return out;
}

function credentialsOf(route: Route, surface: Surface): string {
  if (route.config.public) return 'none';
  return surface.credentials === 'service token'
    ? '`Authorization: Bearer <SERVICE_TOKEN>`, optional `X-Tenant-Id`'
    : '`Authorization: Bearer <API key>`';
}

function behaviour(route: Route): string {
  const notes = [];
  if (route.config.idempotent) notes.push('[idempotent](#idempotency): `Idempotency-Key` required');
  if (route.config.faultPoint) notes.push(`[fault point](#faults) ${code(route.config.faultPoint)}`);
  if (route.schema.hide || route.config.probe) notes.push('operational');
  return notes.join('; ');
}

/** The answers every route of this kind gets from the shared platform, whatever its handler does. */
function platformAnswers(route: Route, surface: Surface): string {
  const kinds: string[] = [];
  if (route.schema.body || route.schema.params) kinds.push('`validation-error` 400');
  if (route.schema.body) kinds.push('`payload-too-large` 413', '`unsupported-media-type` 415');
  if (!route.config.public) kinds.push('`unauthorized` 401');
  if (route.config.idempotent) {
    kinds.push(
      '`idempotency-key-missing` / `idempotency-key-invalid` 400',
      '`idempotency-key-in-use` 409 + `Retry-After`',
      '`idempotency-key-reused` 422',
      ...(surface.credentials === 'service token' ? ['`idempotency-key-fenced` 410'] : []),
    );
  }
  if (route.config.faultPoint) kinds.push('`injected-fault` 503 (only with `FAULTS`)');
  if (!route.schema.hide) kinds.push('`unavailable` 503 + `Retry-After`');
  return kinds.join(', ');
}

function renderRoute(route: Route, surface: Surface, seen: Map<string, string>): string[] {
  const title = `${route.method} ${route.url}`;
  const summary = typeof route.schema.summary === 'string' ? route.schema.summary : ROUTE_NOTES[title] ?? '';
  const out = [`#### ${code(title)}`, ''];
  if (summary) out.push(summary + '.', '');
  out.push(`- Credentials: ${credentialsOf(route, surface)}`);
  const b = behaviour(route);
  if (b) out.push(`- ${b[0]!.toUpperCase()}${b.slice(1)}`);
  out.push('');
  for (const [part, label] of [
    ['params', 'Path parameters'],
    ['headers', 'Headers'],
    ['querystring', 'Query parameters'],
    ['body', 'Body (`application/json`)'],
  ] as const) {
    const schema = route.schema[part] as Json | undefined;
    if (!schema) continue;
    const table = fieldTable(schema, true, part === 'body' ? 'field' : 'name');
    if (table.length) out.push(`${label}:`, '', ...table, '');
    else if (part === 'body') out.push(`${label}: ${typeOf(schema)}${constraints(schema) ? ` (${constraints(schema)})` : ''}.`, '');
  }
  const answers = responses(route.schema, seen, title);
  if (answers.length) out.push('Answers:', '', ...answers);
  const common = platformAnswers(route, surface);
  if (common) out.push(`Also, from the shared platform: ${common}.`, '');
  return out;
}

function problemTable(): string[] {
  return [
    `\`type\` is \`${PROBLEM_TYPE_BASE}<kind>\`; \`title\` is fixed per kind, \`detail\` says what happened this time.`,
    '',
    '| kind | status | title |',
    '|---|---|---|',
    ...Object.entries(PROBLEM_KINDS).map(([kind, { status, title }]) => `| ${code(kind)} | ${status} | ${cell(title)} |`),
    '',
  ];
}

/** Fixed inputs, so the reference depends on the code only, never on the environment it runs in. */
export function docsConfig(): Config {
  return loadConfig({
    SERVICE_TOKEN: 'docs',
    API_KEYS: 'sk_docs:merchant_docs',
    LOG_LEVEL: 'silent',
    IDEMPOTENCY_PURGE_INTERVAL_MS: '0',
  });
}

/** The generated parts of docs/api.md, each with its markers. */
export async function renderGeneratedParts(): Promise<Record<PartName, string>> {
  const config = docsConfig();
  // Never connected: no route handler runs while the reference is generated.
  const pool = new Pool({ host: '127.0.0.1', port: 1, max: 1, connectionTimeoutMillis: 1 });
  const out: string[] = [];
  try {
    for (const surface of SURFACES(config)) {
      const collected = await collectRoutes(() => surface.build(config, pool));
      // The surface's own routes in the order it declares them; the fence, then operational ones after.
      const rank = (r: Route) => (r.schema.hide || r.config.probe ? 2 : r.url.startsWith('/idempotency-keys/') ? 1 : 0);
      const routes = [0, 1, 2].flatMap((n) => collected.filter((r) => rank(r) === n));
      const seen = new Map<string, string>();
      out.push(`### ${surface.title}`, '', `Default port ${surface.port}.`, '');
      out.push('| method | path | credentials | summary |', '|---|---|---|---|');
      for (const r of routes) {
        const title = `${r.method} ${r.url}`;
        const summary = typeof r.schema.summary === 'string' ? r.schema.summary : ROUTE_NOTES[title] ?? '';
        out.push(`| ${r.method} | ${code(r.url)} | ${r.config.public ? 'none' : surface.credentials} | ${cell(summary)} |`);
      }
      out.push('');
      for (const r of routes) out.push(...renderRoute(r, surface, seen));
    }
  } finally {
    await pool.end();
  }
  const wrap = (part: PartName, lines: string[]) =>
    [beginMarker(part), '', ...lines, '', endMarker(part)].join('\n').replace(/\n{3,}/g, '\n\n');
  return { 'problem-kinds': wrap('problem-kinds', problemTable()), routes: wrap('routes', out) };
}

/** `doc` with each generated part replaced; throws when a part's markers are missing. */
export function withGeneratedParts(doc: string, parts: Record<PartName, string>): string {
  let next = doc;
  for (const part of PARTS) {
    const begin = next.indexOf(beginMarker(part));
    const end = next.indexOf(endMarker(part));
    if (begin < 0 || end < begin) throw new Error(`${API_DOC} must hold the markers of the generated part "${part}"`);
    next = next.slice(0, begin) + parts[part] + next.slice(end + endMarker(part).length);
  }
  return next;
}

async function main(): Promise<void> {
  const doc = fs.readFileSync(API_DOC, 'utf8');
  const next = withGeneratedParts(doc, await renderGeneratedParts());
  if (next === doc) {
    process.stdout.write(`${path.relative(process.cwd(), API_DOC)} is up to date\n`);
    return;
  }
  fs.writeFileSync(API_DOC, next);
  process.stdout.write(`wrote ${path.relative(process.cwd(), API_DOC)}\n`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
