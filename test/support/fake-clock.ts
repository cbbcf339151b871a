// A virtual-time Clock for tests: nothing sleeps for real, the test moves time forward.

import type { Clock } from '../../src/schedule/clock.js';

interface Sleeper {
  at: number;
  seq: number;
  resolve(): void;
}

/** Lets every promise chain that is ready run to its next real await. */
export const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  #sleepers: Sleeper[] = [];

  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const sleeper: Sleeper = {
        at: this.#now + Math.max(0, ms),
        seq: this.#seq++,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.#sleepers = this.#sleepers.filter((s) => s !== sleeper);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#sleepers.push(sleeper);
    });
  }

  /** Sleeps not yet due or aborted. */
  get pending(): number {
    return this.#sleepers.length;
  }

  /** Jumps to the earliest sleeper, wakes every sleeper due then, and lets them run. */
  async next(): Promise<boolean> {
    await settle();
    if (this.#sleepers.length === 0) return false;
    const at = Math.min(...this.#sleepers.map((s) => s.at));
    this.#now = Math.max(this.#now, at);
    await this.#wakeDue();
    return true;
  }

  /** Moves time forward by `ms`, waking sleepers in time order on the way. */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    await settle();
    for (;;) {
      const due = this.#sleepers.filter((s) => s.at <= end);
      if (due.length === 0) break;
      this.#now = Math.max(this.#now, Math.min(...due.map((s) => s.at)));
      await this.#wakeDue();
    }
    this.#now = end;
    await settle();
  }

  /** Sets the wall clock without waking anyone, as an NTP step or a user changing the time would. */
  jump(to: number): void {
    this.#now = to;
  }

  async #wakeDue(): Promise<void> {
    const due = this.#sleepers.filter((s) => s.at <= this.#now).sort((a, b) => a.at - b.at || a.seq - b.seq);
    this.#sleepers = this.#sleepers.filter((s) => s.at > this.#now);
    for (const s of due) s.resolve();
    await settle();
  }
}
