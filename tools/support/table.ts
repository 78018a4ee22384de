/** Plain-text tables for command-line reports (`npm run audit`, `npm run chaos`). */

export type Cell = string | number;

/**
 * Aligns rows under a header: text columns left, numeric columns right, two spaces apart.
 * Pure, so the exact layout the commands print is unit-testable.
 */
export function formatTable(header: string[], rows: Cell[][]): string {
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  const text = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...text.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((cell, i) => (numeric[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...text.slice(1).map(line)].join('\n');
}
