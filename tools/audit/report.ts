/** The audit's printed form: one row per invariant (checked / violations), then the details. */
import { formatTable } from '../support/table';
import type { AuditReport } from './types';

/** Violations listed in full up to this many; a broken run can have thousands. */
const MAX_LISTED = 25;

export function formatAuditReport(report: AuditReport): string {
  const copies = report.duplicateMessageCopies.reduce((n, d) => n + d.copies - 1, 0);
  const rows = [
    ...report.invariants.map((i) => [i.spec, i.title, i.checked, i.violations]),
    ['7.1', 'extra copies of one Message-ID at the mailbox (reported, not a violation)', report.duplicateMessageCopies.length, copies],
  ];
  const lines = [
    `checkouts: ${report.checkouts} in the API database, ${report.terminal} terminal`,
    '',
    formatTable(['§', 'invariant', 'checked', 'violations'], rows),
    '',
  ];
  if (report.violations.length > 0) {
    lines.push('violations:');
    for (const v of report.violations.slice(0, MAX_LISTED)) lines.push(`  ${v.invariant}  ${v.subject}: ${v.message}`);
    if (report.violations.length > MAX_LISTED) lines.push(`  … and ${report.violations.length - MAX_LISTED} more`);
    lines.push('');
  }
  for (const d of report.duplicateMessageCopies.slice(0, MAX_LISTED)) {
    lines.push(`note: ${d.copies} copies of ${d.messageId} (checkout ${d.checkoutId})`);
  }
  lines.push(report.ok ? 'OK: no violations' : `FAILED: ${report.violations.length} violation(s)`);
  return lines.join('\n');
}
