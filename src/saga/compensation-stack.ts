/**
 * The saga's compensation stack: each forward step registers its undo action *before* it is
 * attempted, and on failure the registered actions run last-in, first-out.
 *
 * Registering before the call (not after the reply) is what makes a lost reply safe: a charge
 * that took effect but whose answer never arrived still has its refund on the stack. Each
 * action therefore has to cope with "maybe nothing happened" (see `compensationAction`).
 */
export class CompensationStack<T> {
  private readonly entries: T[] = [];

  push(entry: T): void {
    this.entries.push(entry);
  }

  get size(): number {
    return this.entries.length;
  }

  /** Removes and returns every entry in the order it must run: the last registered first. */
  drain(): T[] {
    return this.entries.splice(0).reverse();
  }
}
