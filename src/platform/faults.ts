/**
 * Fault injection (docs/api.md#faults): makes a service misbehave the ways a network and a crash do, so
 * chaos runs can prove the saga's at-most-once guarantees. Off unless `FAULTS` is set.
 *
 * Spec grammar, comma-separated: `point:before=P`, `point:after=P`, `point:delay=MS[@P]`,
 * `send:crash=P`, e.g. `charge:before=0.1,charge:after=0.2,order:delay=3000@0.05`. A route opts
 * in with `config: { faultPoint: 'charge' }`.
 *  - before: 503 `injected-fault` before any effect (onRequest, i.e. before the idempotency claim);
 *  - after:  the effect commits and the response is stored, then the socket is destroyed
 *            without an answer: the "lost reply" a retry must replay, not redo;
 *  - delay:  the (committed) answer is held back MS milliseconds, past the caller's timeout;
 *  - crash:  the process SIGKILLs itself right after an effect left it and before it is recorded,
 *            the one window no idempotency key can close. Only at CRASH_POINTS, which are not
 *            routes: `send` is the notification dispatcher's SMTP send (accepted, not yet marked).
 * `after` and `delay` run in onSend, so this plugin MUST be registered after the idempotency
 * plugin (declared as a dependency below): hooks of one scope run in registration order, and
 * the commit happens in its onSend. They apply to every answer of the route, replays and
 * business refusals included: any reply can be lost on the way back.
 *
 * Decisions come from a PRNG seeded by `FAULTS_SEED`, drawn when a request arrives, so the same
 * seed and the same request order inject the same faults.
 */
import { mulberry32 } from './random';
import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ConfigError } from './config';
import { Problem } from './http/problem';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Names the fault-injection point of a route, e.g. `charge`; unset = never faulted. */
    faultPoint?: string;
  }
}

export type FaultKind = 'before' | 'after' | 'delay' | 'crash';

/** Points in a process (not routes) that call `crashIfPlanned`; `crash` is refused anywhere else. */
export const CRASH_POINTS: readonly string[] = ['send'];

export interface FaultRule {
  point: string;
  kind: FaultKind;
  /** Chance in [0, 1] that a request at `point` gets this fault. */
  probability: number;
  /** For `delay` only: how long the answer is held back. */
  delayMs: number;
}

/** What happens to one request. */
export interface FaultPlan {
  before: boolean;
  after: boolean;
  delayMs: number;
  crash: boolean;
}

const NO_FAULT: FaultPlan = { before: false, after: false, delayMs: 0, crash: false };
const ENTRY = /^([a-z][a-z0-9_.-]*):(before|after|delay|crash)=([^@]+)(?:@(.+))?$/;
const MAX_DELAY_MS = 10 * 60 * 1000;

function probability(raw: string, entry: string): number {
  const p = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(p) || p < 0 || p > 1) {
    throw new ConfigError(`FAULTS entry "${entry}": probability must be a number in [0, 1], got "${raw}"`);
  }
  return p;
}

/** Parses a FAULTS spec; throws ConfigError on anything malformed (a typo must not mean "no faults"). */
export function parseFaults(spec: string): FaultRule[] {
  return spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const m = ENTRY.exec(entry);
      if (!m) throw new ConfigError(`FAULTS entry "${entry}" must be point:before=P, point:after=P, point:delay=MS[@P] or send:crash=P`);
      const [, point, kind, value, chance] = m as unknown as [string, string, FaultKind, string, string | undefined];
      if ((kind === 'crash') !== CRASH_POINTS.includes(point)) {
        throw new ConfigError(`FAULTS entry "${entry}": crash is the only fault of ${CRASH_POINTS.join(', ')}, and only there`);
      }
      if (kind !== 'delay') {
        if (chance !== undefined) throw new ConfigError(`FAULTS entry "${entry}": "@P" is only for delay`);
        return { point, kind, probability: probability(value, entry), delayMs: 0 };
      }
      const delayMs = Number(value);
      if (!Number.isSafeInteger(delayMs) || delayMs <= 0 || delayMs > MAX_DELAY_MS) {
        throw new ConfigError(`FAULTS entry "${entry}": delay must be an integer of milliseconds in (0, ${MAX_DELAY_MS}]`);
      }
      return { point, kind, probability: chance === undefined ? 1 : probability(chance, entry), delayMs };
    });
}

/**
 * Returns a function deciding the faults of each request at a point. Exactly one number is
 * drawn per rule of that point, whether or not an earlier rule fired, so one decision never
 * shifts the dice of the next: the run is a pure function of the seed and the request order.
 */
export function faultPlanner(rules: FaultRule[], seed: number): (point: string) => FaultPlan {
  const random = mulberry32(seed);
  return (point) => {
    const plan = { ...NO_FAULT };
    for (const rule of rules) {
      if (rule.point !== point) continue;
      if (random() >= rule.probability) continue;
      if (rule.kind === 'delay') plan.delayMs = Math.max(plan.delayMs, rule.delayMs);
      else plan[rule.kind] = true;
    }
    return plan;
  };
}

/**
 * A crash point: SIGKILLs this process (no shutdown hook, as `kill -9` would) when the plan for
 * `point` says so. `planner` is `faultPlanner(parseFaults(FAULTS), FAULTS_SEED)`.
 */
export function crashIfPlanned(planner: (point: string) => FaultPlan, point: string): void {
  if (planner(point).crash) process.kill(process.pid, 'SIGKILL');
}

export interface FaultsOptions {
  /** The FAULTS spec; empty disables the plugin entirely. */
  spec: string;
  seed: number;
}

async function faultsPlugin(app: FastifyInstance, opts: FaultsOptions): Promise<void> {
  const rules = parseFaults(opts.spec);
  if (rules.length === 0) return;
  const plan = faultPlanner(rules, opts.seed);
  const plans = new WeakMap<FastifyRequest, FaultPlan>();
  const injected = new Map<string, number>();
  app.log.warn({ faults: rules, seed: opts.seed }, 'fault injection is ON');

  const count = (request: FastifyRequest, point: string, kind: FaultKind) => {
    const name = `${point}:${kind}`;
    injected.set(name, (injected.get(name) ?? 0) + 1);
    request.log.warn({ fault: name, injected: Object.fromEntries(injected) }, 'injected fault');
  };

  app.addHook('onRequest', async (request) => {
    const point = request.routeOptions.config?.faultPoint;
    if (!point) return;
    const p = plan(point);
    if (p.before) {
      count(request, point, 'before');
      throw new Problem('injected-fault', `Injected fault before ${point}`);
    }
    if (p.after || p.delayMs > 0) plans.set(request, p);
  });

  // Runs after the idempotency plugin's onSend (registered earlier), i.e. after the commit.
  app.addHook('onSend', async (request, reply, payload) => {
    const p = plans.get(request);
    if (!p) return payload;
    plans.delete(request);
    const point = request.routeOptions.config.faultPoint!;
    if (p.delayMs > 0) {
      count(request, point, 'delay');
      await new Promise((resolve) => setTimeout(resolve, p.delayMs));
    }
    if (p.after) {
      count(request, point, 'after');
      // The lost reply: the connection dies with the effect committed and nothing sent.
      reply.raw.destroy();
    }
    return payload;
  });

  app.addHook('onClose', async () => {
    app.log.info({ injected: Object.fromEntries(injected) }, 'faults injected in this run');
  });
}

export const faults = fp(faultsPlugin, { name: 'faults', fastify: '5.x', dependencies: ['idempotency'] });
export default faults;
