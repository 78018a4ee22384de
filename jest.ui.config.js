/**
 * `npm run test:ui`: the browser test of the Temporal Web UI (test/ui/). Its files end in
 * `.ui-test.ts`, which jest.config.js does not match, so `npm test` never runs it twice. It starts
 * its own `npm start` on free ports, so it needs none of jest.config.js's global setup.
 * @type {import('jest').Config}
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test/ui'],
  testMatch: ['**/*.ui-test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  testTimeout: 120_000,
  maxWorkers: 1,
};
