/**
 * Finds (or builds, once, into the per-user cache) the three binaries of `npm run start:cluster`
 * (the Temporal server, its SQL schema tool, the Web UI server) and prints their paths. `.ci/run`
 * runs it before the tests, so the Go builds (minutes, once per machine) happen outside any test
 * timeout, as `tools/dev/temporal-main.ts --locate` does for the CLI.
 */
import { loadConfig } from '../../../src/platform/config';
import { locateClusterBinaries } from './binaries';

async function main(): Promise<void> {
  const started = Date.now();
  const binaries = await locateClusterBinaries(loadConfig(), (m) => console.error(m));
  for (const [name, file] of Object.entries(binaries)) console.log(`${name}: ${file}`);
  console.error(`cluster binaries ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((err: unknown) => {
  console.error(`cluster binaries: ${(err as Error).message}`);
  process.exit(1);
});
