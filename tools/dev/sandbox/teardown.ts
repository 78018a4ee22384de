/**
 * Jest global teardown: kills any service process a test left running (a failed test may skip
 * its stack.stop()), then stops Temporal and Postgres and removes the temp folder.
 */
import fs from 'node:fs';
import { PidDir } from '../leftovers';
import { HARNESS, pidDirOf, type HarnessState } from './state';

export default async function globalTeardown(): Promise<void> {
  const state = (globalThis as Record<string, unknown>)[HARNESS] as HarnessState | undefined;
  if (!state) return;
  (globalThis as Record<string, unknown>)[HARNESS] = undefined;
  const leftovers = await new PidDir(pidDirOf(state.dataDir)).sweep();
  if (leftovers.length) process.stderr.write(`[harness] killed ${leftovers.length} process(es) a test left running\n`);
  await Promise.all([state.temporal?.stop(), state.postgres?.stop()]);
  fs.rmSync(state.dataDir, { recursive: true, force: true });
}
