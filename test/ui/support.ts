/**
 * What the Web UI test needs around the browser: a whole `npm start` on free ports (its own
 * Postgres, the Temporal dev server with its Web UI, the services), Debian's Chromium, checkouts
 * made through the API, and a folder of screenshots for a person to look at.
 */
import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { DEFAULT_PORTS, portEnv } from '../../src/platform/config';
import { spawnChild, type ChildHandle } from '../../tools/dev/child';
import { ROOT } from '../../tools/dev/processes';
import { freePorts } from '../../tools/dev/wait';

/** Kept by CI (a folder of the clone, gitignored): every screenshot of a run, and the stack's log. */
export const ARTIFACTS = path.join(ROOT, 'artifacts', 'ui');

/** What `npm start` writes to `<DATA_DIR>/state.json` once it is ready. */
export interface DevState {
  apiUrl: string;
  temporalUiUrl: string;
  apiKey: string;
  processes: Record<string, number>;
}

export interface DevStack {
  state: DevState;
  stop(): Promise<void>;
}

/** Variables of a developer's shell or of jest's harness that would point `npm start` at other infrastructure. */
const FOREIGN = /^(HOST|DATABASE_URL|[A-Z]+_DATABASE_URL|TEMPORAL_(ADDRESS|NAMESPACE|TASK_QUEUE)|WORKFLOW_BUNDLE_PATH|SERVICE_TOKEN|(API|MAILBOX|PAYMENT|ORDER|NOTIFICATION|SMTP|TEMPORAL_UI)_URL)$/;

/** `npm start` (tools/dev/start.ts) on free ports with a fresh DATA_DIR, until its ready banner. */
export async function startDevStack(): Promise<DevStack> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ui-test-'));
  fs.chmodSync(dataDir, 0o755); // as root, Postgres runs as `postgres` and must reach its folder
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !FOREIGN.test(k)));
  Object.assign(env, { DATA_DIR: dataDir, NODE_ENV: 'development' });
  const names = Object.keys(DEFAULT_PORTS) as (keyof typeof DEFAULT_PORTS)[];
  (await freePorts(names.length)).forEach((port, i) => (env[portEnv(names[i]!)] = String(port)));

  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const log = fs.createWriteStream(path.join(ARTIFACTS, 'stack.log'));
  const supervisor: ChildHandle = spawnChild('npm start', process.execPath, ['--import', 'tsx', path.join(ROOT, 'tools', 'dev', 'start.ts')], {
    env,
    cwd: ROOT,
    onLine: (line) => log.write(`${line}\n`),
  });
  const stop = async () => {
    if (supervisor.running()) {
      process.kill(supervisor.pid, 'SIGINT'); // Ctrl-C: the supervisor stops its children in order
      const timer = setTimeout(() => void supervisor.stop(), 30_000);
      await supervisor.exited;
      clearTimeout(timer);
    }
    log.end();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await Promise.race([
      supervisor.waitForLine(/checkout-saga is ready/),
      supervisor.exited.then(() => Promise.reject(new Error(`npm start exited:\n${supervisor.tail().join('\n')}`))),
    ]);
  } catch (err) {
    await stop();
    throw err;
  }
  const state = JSON.parse(fs.readFileSync(path.join(dataDir, 'state.json'), 'utf8')) as DevState;
  return { state, stop };
}

/** Debian's Chromium (`apt-get install chromium`), or CHROMIUM_PATH: Playwright downloads no browser here. */
export function chromiumPath(): string {
  const candidates = [process.env.CHROMIUM_PATH, which('chromium'), which('chromium-browser'), '/usr/bin/chromium'];
  const found = candidates.find((c): c is string => !!c && fs.existsSync(c));
  if (!found) throw new Error('no Chromium: apt-get install -y chromium (Debian), or set CHROMIUM_PATH to a Chromium binary');
  return found;
}

function which(name: string): string | undefined {
  try {
    return execFileSync('which', [name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || undefined;
  } catch {
    return undefined;
  }
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), headless: true });
}

/** Saves a screenshot of the page under ARTIFACTS and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

export interface CheckoutResponse {
  id: string;
  status: string;
  customerId: string;
  chargeId: string | null;
  refundId: string | null;
  failure: { code: string; message: string } | null;
  notification: { id: string | null; status: string | null };
  steps: { name: string; key: string; status: string }[];
}

export interface CheckoutRequest {
  customerId: string;
  email: string;
  sku: string;
  paymentMethod: string;
}

/** POST /checkouts with Prefer: wait, as the README's curl does: the answer is the finished checkout. */
export async function checkout(state: DevState, req: CheckoutRequest): Promise<CheckoutResponse> {
  const res = await fetch(`${state.apiUrl}/checkouts`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${state.apiKey}`,
      'idempotency-key': randomUUID(),
      'content-type': 'application/json',
      prefer: 'wait=20',
    },
    body: JSON.stringify({
      customerId: req.customerId,
      email: req.email,
      currency: 'USD',
      items: [{ sku: req.sku, quantity: 2, unitAmount: 1999 }],
      paymentMethod: req.paymentMethod,
    }),
  });
  const body = await res.text();
  if (res.status >= 300) throw new Error(`POST /checkouts ${JSON.stringify(req)} answered ${res.status}: ${body}`);
  return JSON.parse(body) as CheckoutResponse;
}

export async function getCheckout(state: DevState, id: string): Promise<CheckoutResponse> {
  const res = await fetch(`${state.apiUrl}/checkouts/${id}`, { headers: { authorization: `Bearer ${state.apiKey}` } });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`GET /checkouts/${id} answered ${res.status}: ${body}`);
  return JSON.parse(body) as CheckoutResponse;
}

/** Retries `check` (an assertion) until it passes; past `timeoutMs` its last error is thrown. */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 15_000, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}
