/**
 * The Temporal test environment for workflow tests: the real dev server the test harness
 * started (TEMPORAL_ADDRESS, with the project's search attributes registered).
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { temporalAddress } from '../support/temporal';

export function createTestEnv(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createFromExistingServer({ address: temporalAddress(), namespace: process.env.TEMPORAL_NAMESPACE });
}
