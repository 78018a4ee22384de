/** Polling and port helpers shared by every readiness check. */
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

/** A port the OS reports free right now (bound to 0, read, released). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * `count` distinct free ports. Ports are held open until all are picked, so one call never
 * returns the same port twice.
 */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => {
      const srv = net.createServer();
      return new Promise<net.Server>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(0, host, () => resolve(srv));
      });
    }),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** True when nothing listens on host:port (a bind succeeds). */
export function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}
