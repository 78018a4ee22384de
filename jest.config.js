/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  globalSetup: '<rootDir>/tools/dev/sandbox/setup.ts',
  globalTeardown: '<rootDir>/tools/dev/sandbox/teardown.ts',
  testTimeout: 60_000,
  // The stack (Postgres, Temporal, services) is shared by all test files; two cores do not
  // gain from more than two workers and the processes under test need CPU too.
  maxWorkers: 2,
};
