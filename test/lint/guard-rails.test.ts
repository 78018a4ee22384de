/**
 * The lint guard rails (eslint.config.mjs) are proven to fire: small in-memory fixtures are
 * linted with the project's own config through the ESLint API, as `npm test` lints the tree.
 *
 * ESLint loads its config file with a dynamic `import()`, which jest's module sandbox refuses
 * (it would need --experimental-vm-modules), so the API runs in a plain Node child process.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const ROOT = path.resolve(__dirname, '../..');

interface Fixture {
  /** Where the code pretends to live (the rules are scoped by path); never a real file. */
  filePath: string;
  code: string;
}

interface Finding {
  ruleId: string | null;
  message: string;
  line: number;
}

/**
 * Fixture paths do not exist, so the type-aware parser cannot find them in tsconfig.json's
 * project; `allowDefaultProject` gives them a program of their own with the same compiler options.
 */
const LINT_IN_CHILD = `
import { ESLint } from 'eslint';
import { readFileSync } from 'node:fs';
const fixtures = JSON.parse(readFileSync(0, 'utf8'));
const eslint = new ESLint({
  cwd: process.cwd(),
  overrideConfigFile: 'eslint.config.mjs',
  overrideConfig: {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: fixtures.map((f) => f.filePath), defaultProject: 'tsconfig.json' },
      },
    },
  },
});
const out = [];
for (const f of fixtures) {
  const [result] = await eslint.lintText(f.code, { filePath: f.filePath });
  out.push(result.messages.map((m) => ({ ruleId: m.ruleId, message: m.message, line: m.line })));
}
process.stdout.write(JSON.stringify(out));
`;

async function lint(fixtures: Fixture[]): Promise<Finding[][]> {
  const child = promisify(execFile)(process.execPath, ['--input-type=module', '-e', LINT_IN_CHILD], {
    cwd: ROOT,
    maxBuffer: 16 * 1024 * 1024,
  });
  child.child.stdin!.end(JSON.stringify(fixtures));
  const { stdout } = await child;
  return JSON.parse(stdout) as Finding[][];
}

const FLOATING = 'no-floating-promises';
const RESTRICTED = 'no-restricted-imports';
const rules = (findings: Finding[]) => findings.map((f) => (f.ruleId ?? `fatal: ${f.message}`).replace('@typescript-eslint/', ''));

const fixtures = {
  floatingInTools: {
    filePath: 'tools/lint-fixture.ts',
    code: `async function save(): Promise<number> { return 1; }\nsave();\nexport {};\n`,
  },
  floatingInWorkflow: {
    filePath: 'src/workflows/lint-fixture.ts',
    code: `import { sleep } from '@temporalio/workflow';\nexport async function wf(): Promise<void> {\n  sleep(1000);\n}\n`,
  },
  fsInWorkflow: {
    filePath: 'src/workflows/lint-fixture.ts',
    code: `import fs from 'node:fs';\nexport const exists = (p: string): boolean => fs.existsSync(p);\n`,
  },
  bareBuiltinInWorkflow: {
    filePath: 'src/workflows/lint-fixture.ts',
    code: `import { randomUUID } from 'crypto';\nexport const id = (): string => randomUUID();\n`,
  },
  pgInSaga: {
    filePath: 'src/saga/lint-fixture.ts',
    code: `import { Pool } from 'pg';\nexport const pool = new Pool();\n`,
  },
  projectIoInSaga: {
    filePath: 'src/saga/lint-fixture.ts',
    code: `import { createPool } from '../platform/db/pool';\nimport { buildApp } from '../services/payment/app';\nexport const io = [createPool, buildApp];\n`,
  },
  activityApiInWorkflow: {
    filePath: 'src/workflows/lint-fixture.ts',
    code: `import { Context } from '@temporalio/activity';\nexport const ctx = (): Context => Context.current();\n`,
  },
  // What stays allowed: type-only imports (erased), assert, the workflow API, an intended
  // fire-and-forget marked with void, and Node built-ins outside the sandboxed folders.
  allowed: {
    filePath: 'src/workflows/lint-fixture.ts',
    code: [
      `import assert from 'node:assert';`,
      `import type { Pool } from 'pg';`,
      `import type { Activities } from '../activities';`,
      `import { sleep } from '@temporalio/workflow';`,
      `export type Deps = { pool: Pool; activities: Activities };`,
      `export async function wf(n: number): Promise<void> {`,
      `  assert(n > 0);`,
      `  void sleep(1);`,
      `  await sleep(n);`,
      `}`,
      ``,
    ].join('\n'),
  },
  builtinsInTools: {
    filePath: 'tools/lint-fixture.ts',
    code: `import fs from 'node:fs';\nimport { Pool } from 'pg';\nexport const io = [fs, Pool];\n`,
  },
} satisfies Record<string, Fixture>;

const names = Object.keys(fixtures) as (keyof typeof fixtures)[];
let results: Record<keyof typeof fixtures, Finding[]>;

beforeAll(async () => {
  const found = await lint(names.map((n) => fixtures[n]));
  results = Object.fromEntries(names.map((n, i) => [n, found[i]!])) as typeof results;
}, 120_000);

describe('no-floating-promises', () => {
  test('an un-awaited promise in tools/ is an error', () => {
    expect(rules(results.floatingInTools)).toEqual([FLOATING]);
    expect(results.floatingInTools[0]!.line).toBe(2);
  });

  test('an un-awaited workflow API call is an error', () => {
    expect(rules(results.floatingInWorkflow)).toEqual([FLOATING]);
  });
});

describe('no Node built-ins or I/O in src/workflows and src/saga', () => {
  test("import fs from 'node:fs' in a workflow file", () => {
    expect(rules(results.fsInWorkflow)).toEqual([RESTRICTED]);
    expect(results.fsInWorkflow[0]!.message).toMatch(/node:fs.*sandbox/s);
  });

  test("a bare built-in ('crypto') in a workflow file", () => {
    expect(rules(results.bareBuiltinInWorkflow)).toEqual([RESTRICTED]);
  });

  test("import { Pool } from 'pg' in src/saga", () => {
    expect(rules(results.pgInSaga)).toEqual([RESTRICTED]);
  });

  test("the project's own I/O modules (../platform/db, a service's app) in src/saga", () => {
    expect(rules(results.projectIoInSaga)).toEqual([RESTRICTED, RESTRICTED]);
  });

  test('@temporalio/activity in a workflow file', () => {
    expect(rules(results.activityApiInWorkflow)).toEqual([RESTRICTED]);
  });
});

describe('what stays allowed', () => {
  test('type-only imports, assert, the workflow API and a void fire-and-forget in a workflow', () => {
    expect(results.allowed).toEqual([]);
  });

  test('Node built-ins and pg outside the sandboxed folders', () => {
    expect(results.builtinsInTools).toEqual([]);
  });
});
