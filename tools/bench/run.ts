/**
 * `npm run bench`: every benchmark in turn, each in its own process (each starts and stops its
 * own servers, and a failure in one does not hide the others' results). Each prints its figures
 * as ratios measured in one run; tools/bench/RESULTS.md records them with their commands.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const BENCHES = [
  'service-latency.ts', // new request vs replay, one route per service
  'temporal-pragmas.ts', // dev server workflows/s, SQLite defaults vs the tuned pragmas
];

let failed = 0;
for (const bench of BENCHES) {
  console.log(`\n=== tools/bench/${bench}`);
  const { status } = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, bench)], { stdio: 'inherit' });
  if (status !== 0) {
    console.error(`tools/bench/${bench} failed (exit ${status})`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
