/**
 * `npm run build`: the production build of src/ into dist/ (or `--out-dir <dir>`), what the
 * Dockerfile's runtime stage runs with plain `node`, no tsx:
 *   1. tsc with tsconfig.build.json (src only, CommonJS, source maps) into the out folder;
 *   2. every file of src/ that is not TypeScript (the services' .sql migrations), copied beside
 *      the JavaScript that reads it through __dirname;
 *   3. `workflow-bundle.js`: the workflows bundled once, from the compiled dist/workflows, with
 *      @temporalio/worker's bundleWorkflowCode. A worker given WORKFLOW_BUNDLE_PATH=<it> starts
 *      without running webpack; without it, `node dist/worker/main.js` bundles dist/workflows at
 *      start (seconds) and works the same.
 * The out folder is emptied first, so nothing stale (a deleted module, a renamed migration) ships.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

const ROOT = path.resolve(__dirname, '..', '..');
const SRC = path.join(ROOT, 'src');
export const WORKFLOW_BUNDLE_FILE = 'workflow-bundle.js';

function outDirFromArgs(argv: string[]): string {
  const i = argv.indexOf('--out-dir');
  if (i === -1) return path.join(ROOT, 'dist');
  const dir = argv[i + 1];
  if (!dir || dir.startsWith('--')) throw new Error('--out-dir needs a folder');
  return path.resolve(dir);
}

/** Every file under `dir` (relative paths), depth first. */
function filesUnder(dir: string, base = dir): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? filesUnder(full, base) : [path.relative(base, full)];
  });
}

/** Webpack's own progress is noise; its warnings and errors say why a bundle failed. */
const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn: (m: string) => console.warn(m), error: (m: string) => console.error(m) };

export async function build(outDir: string, log: (m: string) => void = console.log): Promise<void> {
  const started = Date.now();
  if (path.resolve(outDir) === ROOT || path.resolve(outDir) === SRC) throw new Error(`refusing to empty ${outDir}`);
  fs.rmSync(outDir, { recursive: true, force: true });

  const tsc = require.resolve('typescript/bin/tsc');
  const compiled = spawnSync(process.execPath, [tsc, '-p', path.join(ROOT, 'tsconfig.build.json'), '--outDir', outDir], { cwd: ROOT, stdio: 'inherit' });
  if (compiled.status !== 0) throw new Error(`tsc -p tsconfig.build.json failed (exit ${compiled.status ?? compiled.signal})`);

  const assets = filesUnder(SRC).filter((f) => !f.endsWith('.ts'));
  for (const file of assets) {
    fs.mkdirSync(path.dirname(path.join(outDir, file)), { recursive: true });
    fs.copyFileSync(path.join(SRC, file), path.join(outDir, file));
  }

  const { code } = await bundleWorkflowCode({ workflowsPath: path.join(outDir, 'workflows'), logger: quiet });
  fs.writeFileSync(path.join(outDir, WORKFLOW_BUNDLE_FILE), code);

  const js = filesUnder(outDir).filter((f) => f.endsWith('.js')).length;
  log(
    `built ${path.relative(process.cwd(), outDir) || outDir} in ${((Date.now() - started) / 1000).toFixed(1)} s: ` +
      `${js} JavaScript files, ${assets.length} assets (${assets.filter((f) => f.endsWith('.sql')).length} migrations), ` +
      `${WORKFLOW_BUNDLE_FILE} ${(code.length / 1024).toFixed(0)} KiB`,
  );
}

if (require.main === module) {
  build(outDirFromArgs(process.argv.slice(2))).catch((err: unknown) => {
    console.error(`build failed: ${(err as Error).message}`);
    process.exit(1);
  });
}
