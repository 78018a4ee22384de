/**
 * `@temporalio/workflow` as the checkout workflow would see it once its patches are retired: every
 * `patched()` is true (the new branch, as the code reads after the old one is deleted) and records
 * nothing, so a run writes neither the patch markers nor the TemporalChangeVersion upserts the SDK
 * adds for each. Swapped in for the real module by a webpack alias when tools/bench/support/stack.ts
 * bundles the `patches-retired` variant; never part of a worker that runs real checkouts.
 */
export * from '@temporalio/workflow/lib/index';

export function patched(_patchId: string): boolean {
  return true;
}

export function deprecatePatch(_patchId: string): void {
  // retired: nothing to record
}
