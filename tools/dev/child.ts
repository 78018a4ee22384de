/**
 * One child process with line-prefixed output and a clean, complete stop.
 *
 * Children are spawned `detached` by default, which makes each the leader of its own process
 * group: stop() signals the whole group (a child's own children included) and a Ctrl-C in the
 * terminal reaches only the supervisor, which then stops children in order. The test harness
 * passes `detached: false` instead, so that a Ctrl-C on jest still reaches every process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ChildOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  detached?: boolean;
  /** Every output line (stdout and stderr); default: none (the tail is still kept). */
  onLine?: (line: string) => void;
  /** Stop calling onLine once stop() was asked: for servers whose shutdown is noisy but expected. */
  quietOnStop?: boolean;
}

export interface ChildHandle {
  readonly name: string;
  readonly pid: number;
  readonly process: ChildProcess;
  /** Resolves when the process has exited, whatever the reason. */
  readonly exited: Promise<Exit>;
  running(): boolean;
  /** The last output lines, for error messages about a process that died. */
  tail(): string[];
  /** Resolves at the first output line matching `pattern`; rejects if the process exits first. */
  waitForLine(pattern: RegExp): Promise<string>;
  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves once the process has exited. */
  stop(graceMs?: number): Promise<Exit>;
  /** SIGKILL to the group at once (crash simulation). */
  kill9(): Promise<Exit>;
}

const TAIL_LINES = 40;

export class ExitedError extends Error {
  override name = 'ExitedError';
}

export function describeExit(exit: Exit): string {
  return exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
}

export function spawnChild(name: string, command: string, args: string[], opts: ChildOptions = {}): ChildHandle {
  const detached = opts.detached ?? true;
  const child = spawn(command, args, {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    detached,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const watchers = new Set<(line: string) => void>();
  let exit: Exit | undefined;
  let stopping = false;

  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      resolve(exit);
    });
    // A failed spawn (e.g. ENOENT) emits 'error' and no 'exit'.
    child.once('error', (err) => {
      lines.push(`spawn failed: ${err.message}`);
      exit = { code: -1, signal: null };
      resolve(exit);
    });
  });

  for (const stream of [child.stdout, child.stderr]) {
    readline.createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      if (lines.length > TAIL_LINES) lines.shift();
      if (!(stopping && opts.quietOnStop)) opts.onLine?.(line);
      for (const w of watchers) w(line);
    });
  }

  const signal = (sig: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(detached ? -child.pid : child.pid, sig);
    } catch {
      // ESRCH: already gone.
    }
  };

  const handle: ChildHandle = {
    name,
    pid: child.pid ?? -1,
    process: child,
    exited,
    running: () => exit === undefined,
    tail: () => [...lines],
    waitForLine(pattern) {
      const seen = lines.find((l) => pattern.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const watch = (line: string) => {
          if (!pattern.test(line)) return;
          watchers.delete(watch);
          resolve(line);
        };
        watchers.add(watch);
        void exited.then((e) => {
          watchers.delete(watch);
          reject(new ExitedError(`${name} exited (${describeExit(e)}) before printing ${pattern}`));
        });
      });
    },
    async stop(graceMs = 10_000) {
      stopping = true;
      // After the leader exits, a SIGKILL to the group sweeps members it left behind. Without a
      // group of our own there is nothing to sweep, and the reaped pid must not be signalled.
      const sweep = () => detached && signal('SIGKILL');
      if (exit) {
        sweep();
        return exit;
      }
      signal('SIGTERM');
      const timer = setTimeout(() => signal('SIGKILL'), graceMs);
      const e = await exited;
      clearTimeout(timer);
      sweep();
      return e;
    },
    async kill9() {
      stopping = true;
      signal('SIGKILL');
      return exited;
    },
  };
  return handle;
}
