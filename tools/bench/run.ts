/**
 * `npm run bench`: every benchmark in turn, each in its own process (each starts and stops its
 * own servers, and a failure in one does not hide the others' results). Each prints its figures
 * as ratios measured in one run; tools/bench/RESULTS.md records them with their commands.
 * `npm run bench -- --quick` passes each of the issue's benchmarks smaller sizes (a look, not a record).
 * Benchmarks are never timed tests: `npm test` runs none of them.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const BENCHES = [
  'checkout.ts', // checkouts vs the no-op workflow: throughput, latency, actions, CPU per process (goals a, b, e)
  'plugin.ts', // the idempotency plugin: new request vs the bare handler, replay vs a primary-key GET (goals c, d)
  'tuning.ts', // worker settings, retired patches, the API's outcome sweep, local activities: each on its own
  'scale.ts', // 1k, 10k, 20k checkouts: flat throughput, bounded memory, table growth, the purge (goal f)
  'peer.ts', // the seed's Redis lock + double-check against the plugin (skipped without redis-server)
  'service-latency.ts', // new request vs replay, one route per service
  'temporal-pragmas.ts', // dev server workflows/s, SQLite defaults vs the tuned pragmas
];

const QUICK = process.argv.includes('--quick');
const QUICK_ARGS: Record<string, string[]> = {
  'checkout.ts': ['--rounds', '2', '--per-client', '4'],
  'plugin.ts': ['--rounds', '3', '--per-client', '20'],
  'tuning.ts': ['--rounds', '1', '--per-client', '3'],
  'scale.ts': ['--sizes', '500,1000', '--window', '500'],
  'peer.ts': ['--rounds', '2', '--per-client', '20'],
};

let failed = 0;
for (const bench of BENCHES) {
  console.log(`\n=== tools/bench/${bench}`);
  const args = QUICK ? (QUICK_ARGS[bench] ?? []) : [];
  const { status } = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, bench), ...args], { stdio: 'inherit' });
  if (status !== 0) {
    console.error(`tools/bench/${bench} failed (exit ${status})`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
