/**
 * `npm run audit`: checks every invariant of docs/api.md#invariants over the whole database set of the configured
 * system (the same env as `npm start`: DATA_DIR, DATABASE_URL or *_DATABASE_URL, TEMPORAL_ADDRESS,
 * MAILBOX_URL), prints one row per invariant and exits 1 on any violation (2 if it could not
 * read the system at all).
 */
import { collectAuditInput } from './collect';
import { auditInvariants } from './invariants';
import { formatAuditReport } from './report';
import { loadConfig } from '../../src/platform/config';
import { runTool } from '../support/run-tool';

async function main(): Promise<number> {
  const report = auditInvariants(await collectAuditInput(loadConfig()));
  console.log(formatAuditReport(report));
  return report.ok ? 0 : 1;
}

runTool(main, { failureCode: 2, report: (err) => console.error('audit failed to read the system:', err) });
