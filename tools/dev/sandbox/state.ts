/** What global setup hands to global teardown (both run in jest's parent process, sharing globalThis). */
import path from 'node:path';
import type { PostgresHandle } from '../postgres';
import type { TemporalServerHandle } from '../temporal-server';

export const HARNESS = '__checkoutSagaHarness';

export interface HarnessState {
  dataDir: string;
  postgres: PostgresHandle | undefined;
  temporal: TemporalServerHandle | undefined;
}

/** Where stack.ts records the pid of every process it spawns, so teardown can sweep leftovers. */
export function pidDirOf(dataDir: string): string {
  return path.join(dataDir, 'pids');
}
