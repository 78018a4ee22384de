/**
 * Runs a command-line tool's `main` and exits with the code it returns (0 when it returns none),
 * so that open handles (a stack's pools, a Temporal connection) never keep a finished tool alive.
 * A throw is reported and exits with `failureCode`: 1 by default; the audit and chaos use 2,
 * keeping 1 for "it ran and found violations".
 */
export function runTool(
  main: () => Promise<number | void>,
  { failureCode = 1, report = (err: unknown) => console.error(err) }: { failureCode?: number; report?: (err: unknown) => void } = {},
): void {
  main().then(
    (code) => process.exit(code ?? 0),
    (err: unknown) => {
      report(err);
      process.exit(failureCode);
    },
  );
}
