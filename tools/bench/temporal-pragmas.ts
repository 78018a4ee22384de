/**
 * Does tuning the dev server's SQLite pragmas pay? Starts the Temporal dev server twice on a
 * fresh SQLite file each (SQLite defaults, then TUNED_SQLITE_PRAGMAS), runs the same N small
 * workflows through a worker on each and prints workflows/s and the ratio.
 *
 *   npx tsx tools/bench/temporal-pragmas.ts [N=300] [concurrency=30] [rounds=2]
 *
 * Rounds alternate default/tuned so that drift in machine load hits both alike.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { loadConfig } from '../../src/platform/config';
import { locateTemporalCli } from '../dev/temporal-cli';
import { startTemporalServer, TUNED_SQLITE_PRAGMAS } from '../dev/temporal-server';
import { freePort } from '../dev/wait';
import { pragmaBench } from './temporal-pragmas-workflow';

const N = Number(process.argv[2] ?? 300);
const CONCURRENCY = Number(process.argv[3] ?? 30);
const ROUNDS = Number(process.argv[4] ?? 2);
const TASK_QUEUE = 'pragma-bench';

async function measure(cliPath: string, bundle: WorkflowBundleWithSourceMap, pragmas: Record<string, string>): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pragma-bench-'));
  const port = await freePort();
  const server = await startTemporalServer({ cliPath, host: '127.0.0.1', port, dbFile: path.join(dir, 'temporal.sqlite'), pragmas });
  try {
    const nativeConnection = await NativeConnection.connect({ address: server.address });
    const worker = await Worker.create({
      connection: nativeConnection,
      taskQueue: TASK_QUEUE,
      workflowBundle: bundle,
      activities: { echo: async (n: number) => n },
    });
    const connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection });
    const elapsed = await worker.runUntil(async () => {
      // One warm-up workflow so the first-task costs (caches, task queue creation) are not timed.
      await client.workflow.execute(pragmaBench, { taskQueue: TASK_QUEUE, workflowId: 'warmup', args: [0] });
      let next = 0;
      const started = process.hrtime.bigint();
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          for (let i = next++; i < N; i = next++) {
            await client.workflow.execute(pragmaBench, { taskQueue: TASK_QUEUE, workflowId: `wf-${i}`, args: [i] });
          }
        }),
      );
      return Number(process.hrtime.bigint() - started) / 1e9;
    });
    await connection.close();
    await nativeConnection.close();
    return N / elapsed;
  } finally {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const cliPath = await locateTemporalCli({ cliPath: loadConfig().temporal.cliPath });
  const bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('./temporal-pragmas-workflow'), logger: new DefaultLogger('WARN') });
  const baseline: number[] = [];
  const tuned: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    baseline.push(await measure(cliPath, bundle, {}));
    tuned.push(await measure(cliPath, bundle, { ...TUNED_SQLITE_PRAGMAS }));
    console.log(`round ${round}: default ${baseline.at(-1)!.toFixed(1)} wf/s, tuned ${tuned.at(-1)!.toFixed(1)} wf/s`);
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const pragmas = Object.entries(TUNED_SQLITE_PRAGMAS).map(([k, v]) => `${k}=${v}`).join(', ');
  console.log(`N=${N} workflows (1 activity each), concurrency ${CONCURRENCY}, ${ROUNDS} rounds, ${os.cpus().length} CPUs`);
  console.log(`  SQLite defaults : ${mean(baseline).toFixed(1)} workflows/s`);
  console.log(`  ${pragmas} : ${mean(tuned).toFixed(1)} workflows/s`);
  console.log(`  ratio tuned/default: ${(mean(tuned) / mean(baseline)).toFixed(2)}x`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
