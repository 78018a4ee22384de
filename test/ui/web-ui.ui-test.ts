/**
 * The Temporal Web UI as a person uses it (`npm run test:ui`; jest.ui.config.js): Debian's
 * Chromium, driven by playwright-core, on the Web UI of a real `npm start` with four checkouts
 * made through the API: completed, declined, out of stock, bounced e-mail.
 *
 * It filters the workflow list with `CheckoutStatus = "failed"` typed into the UI's query
 * input, opens the out-of-stock run from that list and reads what the README promises there: the
 * activity summaries on the timeline, the static summary under User Metadata, and getState's
 * answer under Queries. Screenshots of every page land in artifacts/ui/ (a failed step adds
 * `failed-<test>.png`); docs/images/web-ui-run.png is a copy of run-timeline.png.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import {
  ARTIFACTS,
  checkout,
  eventually,
  getCheckout,
  launchChromium,
  screenshot,
  startDevStack,
  type CheckoutResponse,
  type DevStack,
} from './support';

jest.setTimeout(120_000);

const FAILED_QUERY = 'CheckoutStatus = "failed"';

let stack: DevStack | undefined;
let browser: Browser | undefined;
let page: Page;
const runs = {} as Record<'completed' | 'declined' | 'outOfStock' | 'bounced', CheckoutResponse>;
const shots: string[] = [];
const timings: string[] = [];

async function timed<T>(what: string, f: () => Promise<T>): Promise<T> {
  const started = Date.now();
  const result = await f();
  timings.push(`${what} ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return result;
}

async function shot(name: string): Promise<void> {
  await page.mouse.move(0, 0); // no tooltip of the last button clicked
  shots.push(await screenshot(page, name));
}

/** A test's body; when it fails, the page it failed on is saved for a person to look at. */
function step(name: string, body: () => Promise<void>): void {
  test(name, async () => {
    try {
      await body();
    } catch (err) {
      const slug = name.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase().slice(0, 60);
      await shot(`failed-${slug}`).catch(() => undefined);
      throw err;
    }
  });
}

/** Workflow ids of the rows the list shows now. */
async function listedIds(): Promise<string[]> {
  const rows = page.getByTestId('workflows-summary-configurable-table-row');
  const ids = await rows.evaluateAll((trs) => trs.map((tr) => (tr.textContent ?? '').match(/chk_[0-9a-f]+/)?.[0] ?? `?${tr.textContent}`));
  return ids.sort();
}

beforeAll(async () => {
  fs.rmSync(ARTIFACTS, { recursive: true, force: true }); // the folder shows this run only
  stack = await timed('npm start', startDevStack);
  const { state } = stack;
  await timed('4 checkouts', async () => {
    [runs.completed, runs.declined, runs.outOfStock, runs.bounced] = await Promise.all([
      checkout(state, { customerId: 'cus_ui_completed', email: 'completed@example.com', sku: 'SKU-1', paymentMethod: 'tok_visa' }),
      checkout(state, { customerId: 'cus_ui_declined', email: 'declined@example.com', sku: 'SKU-1', paymentMethod: 'tok_chargeDeclined' }),
      checkout(state, { customerId: 'cus_ui_oos', email: 'oos@example.com', sku: 'OUT-OF-STOCK', paymentMethod: 'tok_visa' }),
      checkout(state, { customerId: 'cus_ui_bounced', email: 'bounced@bounce.test', sku: 'SKU-1', paymentMethod: 'tok_visa' }),
    ]);
    // The bounce happens after the checkout completed: the outbox dead-letters the refused e-mail.
    runs.bounced = await eventually(async () => {
      const c = await getCheckout(state, runs.bounced.id);
      if (c.notification.status !== 'dead') throw new Error(`bounced checkout's e-mail is ${c.notification.status}, not dead yet`);
      return c;
    }, 30_000);
  });
  browser = await timed('Chromium', launchChromium);
  page = await browser.newPage({ viewport: { width: 1440, height: 1200 } });
});

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  process.stdout.write(
    [
      `Web UI test: ${timings.join(', ')}`,
      `Screenshots (${ARTIFACTS}):`,
      ...shots.map((s) => `  ${s}`),
      `Log of the stack: ${path.join(ARTIFACTS, 'stack.log')}`,
      '',
    ].join('\n'),
  );
});

step('the API finished the four checkouts: completed, declined, out of stock, completed with a bounced e-mail', async () => {
  expect(runs.completed).toMatchObject({ status: 'completed', failure: null });
  expect(runs.declined).toMatchObject({ status: 'failed', failure: { code: 'card-declined' } });
  expect(runs.outOfStock).toMatchObject({ status: 'failed', failure: { code: 'out-of-stock' }, chargeId: expect.stringMatching(/^ch_/), refundId: expect.stringMatching(/^re_/) });
  expect(runs.bounced).toMatchObject({ status: 'completed', notification: { status: 'dead' } });
});

step('the workflow list shows all four runs', async () => {
  await page.goto(`${stack!.state.temporalUiUrl}/namespaces/default/workflows`);
  const all = Object.values(runs).map((r) => r.id).sort();
  await eventually(async () => expect(await listedIds()).toEqual(all));
  await shot('list-all');
});

step(`filtering by ${FAILED_QUERY} in the query input lists the declined and out-of-stock runs only`, async () => {
  await page.getByTestId('toggle-manual-query').click();
  const input = page.getByTestId('workflow-manual-search-input');
  await input.fill(FAILED_QUERY);
  await input.press('Enter');
  // The filter is in the address, so the filtered list is a link a person can share.
  await page.waitForURL((url) => url.searchParams.get('query') === FAILED_QUERY);
  const failed = [runs.declined.id, runs.outOfStock.id].sort();
  await eventually(async () => expect(await listedIds()).toEqual(failed));
  expect(await listedIds()).not.toContain(runs.completed.id);
  expect(await listedIds()).not.toContain(runs.bounced.id);
  await shot('list-failed');
});

step('the same list opens from a ?query= address', async () => {
  await page.goto(`${stack!.state.temporalUiUrl}/namespaces/default/workflows?query=${encodeURIComponent(FAILED_QUERY)}`);
  await eventually(async () => expect(await listedIds()).toEqual([runs.declined.id, runs.outOfStock.id].sort()));
});

step("the out-of-stock run's timeline shows the activity summaries: charge, order, refund", async () => {
  const { id, customerId, chargeId } = runs.outOfStock;
  await page.getByRole('link', { name: id, exact: true }).click();
  await page.waitForURL(new RegExp(`/workflows/${id}/`));
  await page.getByRole('tab', { name: 'Timeline', exact: true }).click();
  await page.waitForURL(/\/timeline$/);
  for (const summary of [
    `createCharge • Charge $39.98 to ${customerId} (tok_visa)`,
    `createOrder • Create order of 2 item(s) for ${customerId} (charge ${chargeId})`,
    `refundCharge • Refund $39.98 of charge ${chargeId}`,
  ]) {
    await page.getByText(summary, { exact: true }).waitFor({ state: 'visible', timeout: 15_000 });
  }
  await shot('run-timeline');
});

step('User Metadata shows the static summary and details the API set at start', async () => {
  const { customerId } = runs.outOfStock;
  await page.getByRole('tab', { name: 'User Metadata', exact: true }).click();
  await page.waitForURL(/\/user-metadata$/);
  // The UI renders each as markdown in a frame of its own.
  const frame = (id: string) => page.locator(`iframe#${id}`).contentFrame();
  await frame('user-metadata-summary').getByText(`Checkout $39.98 for ${customerId} (1 item)`, { exact: true }).waitFor({ state: 'visible', timeout: 15_000 });
  await frame('user-metadata-details').getByText('merchant merchant_dev · 2× OUT-OF-STOCK', { exact: true }).waitFor({ state: 'visible', timeout: 15_000 });
  await shot('run-user-metadata');
});

step('Queries → getState answers the checkout with its steps, the refund included', async () => {
  const { id } = runs.outOfStock;
  await page.getByRole('tab', { name: 'Queries', exact: true }).click();
  await page.waitForURL(/\/query$/);
  await page.getByTestId('query-select-button').click();
  await page.getByRole('option', { name: 'getState', exact: true }).click();
  await page.getByRole('button', { name: 'Run Query', exact: true }).click();
  const result = page.getByRole('textbox', { name: 'Query Result', exact: true });
  const state = await eventually(async () => JSON.parse(await result.innerText()) as CheckoutResponse);
  expect(state).toMatchObject({ checkoutId: id, status: 'failed', failure: { code: 'out-of-stock' } });
  expect(state.steps.map((s) => [s.name, s.status])).toEqual([
    ['charge', 'succeeded'],
    ['order', 'failed'],
    ['notify', 'pending'],
    ['charge.refund', 'succeeded'],
  ]);
  expect(state.steps.map((s) => s.key)).toEqual(runs.outOfStock.steps.map((s) => s.key));
  await shot('run-query');
});
