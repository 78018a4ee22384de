/**
 * How every HTTP process logs: JSON for machines (LOG_FORMAT=json, the default with
 * NODE_ENV=production), one readable line per event for a person in development. Either way one line per request (method,
 * URL, status, time) instead of Fastify's two, and probes — health checks and metrics scrapes,
 * routes marked `config: { probe: true }` — only at debug level, so a terminal is not a scroll of
 * readiness polls.
 */
import type { FastifyInstance, FastifyRequest, FastifyServerOptions } from 'fastify';
import { Writable } from 'node:stream';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Polled by machines (health checks, metrics scrapes): logged at debug level only. */
    probe?: boolean;
  }
}

export interface LoggingOptions {
  level: string;
  /** Shown on each line; the supervisor prefixes lines with the process name anyway. */
  name?: string;
  /** config.logFormat === 'json'. */
  json: boolean;
  /** Where lines go; default stdout. */
  destination?: NodeJS.WritableStream;
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** pino's own fields, and fields every line repeats; the rest is shown as key=value. */
const HIDDEN = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'v', 'err']);

function formatValue(value: unknown): string {
  if (typeof value === 'string') return /[\s"=]/.test(value) ? JSON.stringify(value) : value;
  return JSON.stringify(value);
}

/** One pino JSON record → `12:03:04.567 INFO  msg key=value`, plus an error's stack below it. */
export function prettyLine(record: Record<string, unknown>): string {
  const time = new Date(Number(record.time)).toISOString().slice(11, 23);
  const level = (LEVELS[Number(record.level)] ?? String(record.level)).padEnd(5);
  const fields = Object.entries(record)
    .filter(([k, v]) => !HIDDEN.has(k) && v !== undefined)
    .map(([k, v]) => `${k}=${formatValue(v)}`);
  const err = record.err as { type?: string; message?: string; stack?: string } | undefined;
  const head = [time, level, record.msg, ...fields, err ? `(${err.type ?? 'Error'}: ${err.message})` : undefined].filter(Boolean).join(' ');
  return err?.stack ? `${head}\n${err.stack.replace(/^/gm, '    ')}` : head;
}

/** A pino destination that prints each record with `prettyLine`. */
export function prettyStream(out: NodeJS.WritableStream = process.stdout): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const json of chunk.toString().split('\n').filter(Boolean)) {
        try {
          out.write(`${prettyLine(JSON.parse(json) as Record<string, unknown>)}\n`);
        } catch {
          out.write(`${json}\n`);
        }
      }
      done();
    },
  });
}

/** The Fastify options for logging: the logger, and no built-in request lines (`logRequests` adds ours). */
export function loggerOptions(opts: LoggingOptions): Pick<FastifyServerOptions, 'logger' | 'disableRequestLogging'> {
  const json = opts.json;
  const destination = opts.destination ?? process.stdout;
  return {
    logger: {
      level: opts.level,
      name: opts.name,
      // Bodies are never logged (card tokens, e-mail addresses); headers could carry a token.
      redact: ['req.headers.authorization'],
      stream: json ? destination : prettyStream(destination),
    },
    disableRequestLogging: true,
  };
}

function isProbe(request: FastifyRequest): boolean {
  return request.routeOptions.config?.probe === true;
}

/** One line per answered request, at debug level for probes. */
export function logRequests(app: FastifyInstance): void {
  app.addHook('onResponse', async (request, reply) => {
    const line = { method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) };
    if (isProbe(request)) request.log.debug(line, 'request');
    else request.log.info(line, 'request');
  });
}

const SDK_LEVELS = { TRACE: 10, DEBUG: 20, INFO: 30, WARN: 40, ERROR: 50 } as const;
type SdkLevel = keyof typeof SDK_LEVELS;

/**
 * The Temporal SDK's logger for the worker (its own lines, its workflows' and activities'), in
 * the same two formats as the HTTP processes: one JSON record per line, or one readable line.
 * A message over several lines (the bundler's statistics) shows its first line; the rest only
 * at debug level.
 */
export function sdkLogger(opts: LoggingOptions): import('@temporalio/common').Logger {
  const threshold = SDK_LEVELS[(opts.level.toUpperCase() as SdkLevel)] ?? SDK_LEVELS.INFO;
  const out = opts.destination ?? process.stdout;
  const log = (level: SdkLevel, message: string, meta: Record<string | symbol, unknown> = {}) => {
    if (SDK_LEVELS[level] < threshold) return;
    const fields = Object.fromEntries(
      Object.entries(meta).map(([k, v]) => [k, v instanceof Error ? { type: v.name, message: v.message, stack: v.stack } : v]),
    );
    const [first, ...rest] = message.split('\n');
    const msg = opts.json || threshold <= SDK_LEVELS.DEBUG || rest.length === 0 ? message : `${first} (+${rest.length} lines at debug)`;
    const record = { level: SDK_LEVELS[level], time: Date.now(), name: opts.name, msg, ...fields };
    const safe = (_key: string, value: unknown) => (typeof value === 'bigint' ? value.toString() : value);
    out.write(`${opts.json ? JSON.stringify(record, safe) : prettyLine(JSON.parse(JSON.stringify(record, safe)) as Record<string, unknown>)}\n`);
  };
  return {
    log: (level, message, meta) => log(level, message, meta),
    trace: (message, meta) => log('TRACE', message, meta),
    debug: (message, meta) => log('DEBUG', message, meta),
    info: (message, meta) => log('INFO', message, meta),
    warn: (message, meta) => log('WARN', message, meta),
    error: (message, meta) => log('ERROR', message, meta),
  };
}
