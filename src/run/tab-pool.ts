// The run's tabs, one per gate slot. The gate is the only limit on jobs in flight; a job holding a
// slot always finds a free tab here, so this is a free list, not a second queue.

import type { Tab } from './attempt.js';

export class TabPool {
  readonly #free: Tab[];

  constructor(tabs: readonly Tab[]) {
    this.#free = [...tabs];
  }

  /** A free tab; the caller holds a gate slot, so there is one. */
  take(): Tab {
    const tab = this.#free.pop();
    if (!tab) throw new Error('no free tab although a gate slot was granted: the gate allows more jobs than there are tabs');
    return tab;
  }

  give(tab: Tab): void {
    this.#free.push(tab);
  }
}
