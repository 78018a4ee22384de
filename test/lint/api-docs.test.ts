/**
 * docs/api.md is what `npm run docs:api` generates from today's code: its generated parts are
 * regenerated in memory (the apps are built, never started) and compared with the committed file.
 */
import fs from 'node:fs';
import { API_DOC, PARTS, renderGeneratedParts, withGeneratedParts, type PartName } from '../../tools/docs/api-reference';

let parts: Record<PartName, string>;

beforeAll(async () => {
  parts = await renderGeneratedParts();
}, 60_000);

test('the generated parts cover every surface and the problem kinds', () => {
  for (const route of ['`POST /checkouts`', '`GET /checkouts/{id}`', '`POST /charges`', '`POST /orders`', '`POST /notifications`']) {
    expect(parts.routes).toContain(route);
  }
  expect(parts.routes).toContain('`POST /idempotency-keys/{key}/fence`');
  expect(parts['problem-kinds']).toContain('`idempotency-key-reused` | 422');
});

test('docs/api.md is up to date (else run `npm run docs:api` and commit it)', () => {
  const doc = fs.readFileSync(API_DOC, 'utf8');
  const fresh = withGeneratedParts(doc, parts);
  if (fresh === doc) return;
  const [a, b] = [doc.split('\n'), fresh.split('\n')];
  const line = a.findIndex((l, i) => l !== b[i]);
  const stale = PARTS.filter((p) => !doc.includes(parts[p]));
  throw new Error(
    `docs/api.md is stale in its generated part(s) ${stale.join(', ')}: run \`npm run docs:api\` and commit it.\n` +
      `First difference at line ${line + 1}:\n  committed: ${a[line] ?? '(end of file)'}\n  generated: ${b[line] ?? '(end of file)'}`,
  );
});
