/**
 * Runs `stop` once on the first SIGINT/SIGTERM, then exits: for the scripts that run one piece
 * alone. Returns whether that stop has begun, so an exit it causes is not reported as a crash.
 */
export function stopOnSignal(stop: () => Promise<void>): () => boolean {
  let stopping = false;
  const handler = () => {
    if (stopping) return;
    stopping = true;
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => stopping;
}
