/**
 * Builds the workflow bundle once, to a file every worker of a test run (or chaos run) loads with
 * WORKFLOW_BUNDLE_PATH, instead of each worker running webpack at start.
 */
import fs from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

const silent = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

export async function writeWorkflowBundle(file: string): Promise<string> {
  const { code } = await bundleWorkflowCode({ workflowsPath: path.resolve(__dirname, '..', '..', 'src', 'workflows'), logger: silent });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, code);
  return file;
}
