/** Polling and port helpers shared by every readiness check. */
import fs from 'node:fs';
import net from 'node:net';

export class TimeoutError extends Error {
  override name = 'TimeoutError';
}

export interface WaitOptions {
  what: string;
  timeoutMs: number;
  intervalMs?: number;
  /** Rejects to abort the wait early, e.g. when the process being waited for exits. */
  abort?: Promise<never>;
}

/** Polls `check` until it returns true; a throwing check counts as "not yet" and its error is reported on timeout. */
export async function waitUntil(check: () => Promise<boolean>, opts: WaitOptions): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastError: unknown;
  let aborted: unknown;
  let isAborted = false;
  opts.abort?.catch((err: unknown) => {
    aborted = err;
    isAborted = true;
  });
  for (;;) {
    if (isAborted) throw aborted;
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    if (isAborted) throw aborted;
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new TimeoutError(`timed out after ${opts.timeoutMs} ms waiting for ${opts.what}${why}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
}

/** True when GET `url` answers 2xx within a second. */
export async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
  await res.arrayBuffer();
  return res.ok;
}

/**
 * Where picked ports come from: below the kernel's ephemeral range. A port bound to 0 and released
 * comes from that range, and every outgoing connection on the machine takes its source port from
 * it too, so a port picked there can be held by some client's connection by the time the process
 * it was picked for binds it (seen in CI: a mailbox failing with EADDRINUSE on a port picked a
 * minute before). Below the range only listeners take ports. Each jest worker picks in its own
 * slice, so test files running in parallel never pick the same port either.
 */
const PICK_FLOOR = 10_000;
const PICK_SLICES = 8;

function pickRange(): { low: number; high: number } {
  let ephemeralLow = 32_768;
  try {
    ephemeralLow = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || ephemeralLow;
  } catch {
    // no procfs: Linux's default range
  }
  if (ephemeralLow - PICK_FLOOR < PICK_SLICES * 100) return { low: 1_024, high: ephemeralLow }; // a widened ephemeral range: one shared slice
  const size = Math.floor((ephemeralLow - PICK_FLOOR) / PICK_SLICES);
  const slice = Number(process.env.JEST_WORKER_ID ?? 0) % PICK_SLICES;
  return { low: PICK_FLOOR + slice * size, high: PICK_FLOOR + (slice + 1) * size };
}

/** Binds host:port, or undefined when it is taken. */
function holdPort(host: string, port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(undefined));
    srv.listen({ port, host, exclusive: true }, () => resolve(srv));
  });
}

/**
 * `count` distinct ports free right now, from the range above, scanning from a random point.
 * Ports are held open until all are picked, so one call never returns the same port twice.
 */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const { low, high } = pickRange();
  const span = high - low;
  const start = Math.floor(Math.random() * span);
  const held: net.Server[] = [];
  try {
    for (let i = 0; i < span && held.length < count; i++) {
      const srv = await holdPort(host, low + ((start + i) % span));
      if (srv) held.push(srv);
    }
    if (held.length < count) throw new Error(`no ${count} free ports on ${host} in ${low}-${high - 1}`);
    return held.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
  }
}

/** A port free right now (see freePorts for where it comes from). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return (await freePorts(1, host))[0]!;
}

/** True when nothing listens on host:port (a bind succeeds). */
export function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}
