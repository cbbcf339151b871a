// The run's queue of jobs (docs/ARCHITECTURE.md §10 "The path of one job"): which job a profile
// takes next, and when. Every job of the run is in here exactly once, either queued or held by the
// one lane that runs its attempt, until it is finished; so a job is never run twice at once, and a
// person's retry of a job already here starts nothing.
//
// A job a profile started stays with that profile (its conversation exists only in that account,
// DESIGN §13): it is "pinned". A pin to a profile that is gone (retired, or not in this run) lapses
// `reassignAfterMs` after the job was pinned, and then any profile may take the job, at the cost of
// a fresh prompt (the taker is told, so it forgets the old conversation).
import type { Job } from '../prompts/types.js';

/** One job's stay in the source. The dispatcher keeps what it learns between attempts on it. */
export interface Ticket {
  readonly job: Job;
  /** Not before this time (epoch ms): a retry's backoff. */
  notBefore: number;
  /** Attempts made (or counted) so far: a job tried before goes ahead of fresh ones. */
  priority: number;
  /** The profile that started it and alone may look in its conversation. */
  pin?: string;
  /** When the pin was set (epoch ms), for reassignment. */
  pinnedAt?: number;
  /** Set by `take` when the job was pinned to a gone profile: the taker must send afresh. */
  moved?: boolean;
}

export interface JobSourceOptions {
  /** A job pinned to a gone profile goes to another this long after it was pinned. */
  readonly reassignAfterMs: number;
  /** @default Date.now */
  readonly now?: () => number;
  /**
   * More jobs may come from outside (a fleet worker's feed, src/fleet/link.ts): an empty source is
   * not the end of the work, only `close()` is.
   */
  readonly open?: boolean;
  /** Told of every job finished (after it left the source), e.g. to report it to the fleet. */
  readonly onFinish?: (ticket: Ticket) => void;
}

export class LocalJobSource {
  readonly #opts: JobSourceOptions;
  readonly #now: () => number;
  readonly #queued = new Map<string, Ticket>();
  readonly #held = new Map<string, Ticket>();
  /** Profiles that take no more jobs; a pin to one of them lapses. */
  readonly #gone = new Set<string>();
  /** Profiles in the run: a pin to any other is a pin to a gone profile. */
  readonly #present = new Set<string>();
  readonly #waiters = new Set<() => void>();
  #closed = false;
  #added = 0;

  constructor(profiles: readonly string[], opts: JobSourceOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    for (const profile of profiles) this.#present.add(profile);
  }

  /** Queues a job unless it is already here (queued or held); returns whether it was added. */
  add(job: Job, init: { priority?: number; notBefore?: number; pin?: string; pinnedAt?: number } = {}): boolean {
    if (this.#closed || this.#queued.has(job.id) || this.#held.has(job.id)) return false;
    const ticket: Ticket = { job, notBefore: init.notBefore ?? 0, priority: init.priority ?? 0 };
    if (init.pin !== undefined) {
      ticket.pin = init.pin;
      ticket.pinnedAt = init.pinnedAt ?? this.#now();
    }
    this.#queued.set(job.id, ticket);
    this.#added += 1;
    this.#changed();
    return true;
  }

  /** Jobs added since the start (a job put back is not added again): what the run set out to do. */
  get added(): number {
    return this.#added;
  }

  /** Takes a queued (not held) job out again, e.g. to hand it back to the fleet; undefined when it is not queued. */
  drop(id: string): Ticket | undefined {
    const ticket = this.#queued.get(id);
    if (!ticket) return undefined;
    this.#queued.delete(id);
    this.#changed();
    return ticket;
  }

  /** The queued (not held) jobs, in no particular order. */
  queuedTickets(): Ticket[] {
    return [...this.#queued.values()];
  }

  has(id: string): boolean {
    return this.#queued.has(id) || this.#held.has(id);
  }

  /** Jobs queued or held. */
  get size(): number {
    return this.#queued.size + this.#held.size;
  }

  get held(): number {
    return this.#held.size;
  }

  /** Nothing queued and nothing held (or closed): the run's work is done. An open source is done only when closed. */
  get drained(): boolean {
    return this.#closed || (this.size === 0 && !this.#opts.open);
  }

  /** Whether `profile` could ever take a queued job (now or later). */
  hasWorkFor(profile: string): boolean {
    if (this.#closed) return false;
    for (const ticket of this.#queued.values()) if (this.#eligibleAt(ticket, profile) !== undefined) return true;
    return false;
  }

  /** The earliest time a queued job becomes due for `profile`; undefined when none ever does. */
  nextDueFor(profile: string): number | undefined {
    let soonest: number | undefined;
    for (const ticket of this.#queued.values()) {
      const at = this.#eligibleAt(ticket, profile);
      if (at !== undefined && (soonest === undefined || at < soonest)) soonest = at;
    }
    return soonest;
  }

  /**
   * The job `profile` should run now, marked held; undefined when none is due for it. Its own pinned
   * jobs first (no other profile can do them), then jobs tried before, then book order.
   */
  take(profile: string): Ticket | undefined {
    if (this.#closed) return undefined;
    const now = this.#now();
    let best: Ticket | undefined;
    for (const ticket of this.#queued.values()) {
      const at = this.#eligibleAt(ticket, profile);
      if (at === undefined || at > now) continue;
      if (!best || rank(ticket, profile) < rank(best, profile)) best = ticket;
    }
    if (!best) return undefined;
    this.#queued.delete(best.job.id);
    this.#held.set(best.job.id, best);
    best.moved = best.pin !== undefined && best.pin !== profile;
    if (best.moved) {
      best.pin = undefined;
      best.pinnedAt = undefined;
    }
    return best;
  }

  /** A held job goes back in the queue (a retry, or an attempt the stop voided). */
  putBack(ticket: Ticket, next: { notBefore?: number; pin?: string | null; countsAsAttempt?: boolean } = {}): void {
    if (!this.#held.delete(ticket.job.id)) return;
    if (next.notBefore !== undefined) ticket.notBefore = next.notBefore;
    if (next.countsAsAttempt !== false) ticket.priority += 1;
    if (next.pin === null) {
      ticket.pin = undefined;
      ticket.pinnedAt = undefined;
    } else if (next.pin !== undefined && next.pin !== ticket.pin) {
      ticket.pin = next.pin;
      ticket.pinnedAt = this.#now();
    }
    ticket.moved = false;
    if (this.#closed) return;
    this.#queued.set(ticket.job.id, ticket);
    this.#changed();
  }

  /** A held job is done with (verified, failed for good, or not to be run this time). */
  finish(ticket: Ticket): void {
    if (!this.#held.delete(ticket.job.id)) return;
    this.#opts.onFinish?.(ticket);
    this.#changed();
  }

  /** `profile` takes no more jobs: pins to it lapse after `reassignAfterMs`. */
  retire(profile: string): void {
    this.#gone.add(profile);
    this.#present.delete(profile);
    this.#changed();
  }

  /** No job is handed out any more; every wait ends. Held jobs may still be finished or put back. */
  close(): void {
    this.#closed = true;
    this.#changed();
  }

  /**
   * Resolves true once a job is due for `profile`, false when there will be none for it (drained,
   * closed, or every queued job belongs to another). Rejects with `signal.reason` when aborted.
   */
  waitFor(profile: string, signal: AbortSignal): Promise<boolean> {
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        this.#waiters.delete(check);
        signal.removeEventListener('abort', onAbort);
        clearTimeout(timer);
      };
      const onAbort = () => {
        done();
        reject(signal.reason);
      };
      const check = () => {
        clearTimeout(timer);
        if (this.#closed) return done(), resolve(false);
        const due = this.nextDueFor(profile);
        if (due === undefined) {
          // Nothing for it now; but a held job may come back (a retry), and a job pinned to another
          // profile may lapse to it, so the wait ends with false only when the source is empty.
          if (this.size === 0 && !this.#opts.open) return done(), resolve(false);
          return;
        }
        const wait = due - this.#now();
        if (wait <= 0) return done(), resolve(true);
        timer = setTimeout(check, Math.min(wait, 2 ** 31 - 1));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(check);
      check();
    });
  }

  /** Calls `listener` on every change (a job added, taken, put back or finished); returns the unsubscriber. */
  onChange(listener: () => void): () => void {
    this.#waiters.add(listener);
    return () => this.#waiters.delete(listener);
  }

  /** When `ticket` may go to `profile`: its own time, later for a lapsing pin; undefined: never. */
  #eligibleAt(ticket: Ticket, profile: string): number | undefined {
    if (ticket.pin === undefined || ticket.pin === profile) return ticket.notBefore;
    if (this.#present.has(ticket.pin)) return undefined;
    return Math.max(ticket.notBefore, (ticket.pinnedAt ?? 0) + this.#opts.reassignAfterMs);
  }

  #changed(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}

/** Lower goes first: own pinned jobs, then more attempts, then book order. */
function rank(ticket: Ticket, profile: string): number {
  return (ticket.pin === profile ? 0 : 1) * 1e12 - ticket.priority * 1e7 + ticket.job.order;
}
