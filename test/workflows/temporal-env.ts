/**
 * The Temporal test environment for workflow tests: the real dev server the test harness
 * started (`TEMPORAL_ADDRESS`), or, when a test file runs without the harness, a dev server
 * started here from the CLI binary (`TEMPORAL_CLI_PATH` or the per-user cache).
 */
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import * as attrs from '../../workflows/search-attributes';

export async function createTestEnv(): Promise<TestWorkflowEnvironment> {
  const address = process.env.TEMPORAL_ADDRESS;
  if (address) {
    return TestWorkflowEnvironment.createFromExistingServer({ address, namespace: process.env.TEMPORAL_NAMESPACE });
  }
  const cli = process.env.TEMPORAL_CLI_PATH || path.join(os.homedir(), '.cache', 'checkout-saga', 'bin', 'temporal');
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: cli },
      searchAttributes: [attrs.CheckoutStatus, attrs.CustomerId, attrs.MerchantId, attrs.CheckoutAmount, attrs.CompensationFailing],
    },
  });
}
