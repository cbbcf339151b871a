// The per-profile start gate (ARCHITECTURE §5–6): decides when the next job may start, so a day-long
// run paces itself like a careful person. Only starts are paced; a running job is never touched.

import type { Pacing } from '../prompts/types.js';
import { isNonNegative } from './backoff.js';
import { systemClock, type Clock } from './clock.js';

export { systemClock, type Clock } from './clock.js';
export { backoffMs, cooldownPauseMs, type BackoffOptions } from './backoff.js';

export interface GateOptions {
  /** Jobs in flight at once (one page each). */
  readonly concurrency: number;
  /** Least time from one start to the next. */
  readonly minGapMs: number;
  /** Up to this much extra random time, drawn afresh for each gap. */
  readonly jitterMs: number;
  /** A cooldown follows every N-th start; 0 = never. */
  readonly cooldownEvery: number;
  /** Least time from the N-th start to the one after it (it stands in for the gap there, it is not added to it). */
  readonly cooldownMs: number;
  /** @default Math.random */
  readonly random?: () => number;
  /** @default systemClock */
  readonly clock?: Clock;
}

/** What the journal keeps, so a restarted run carries on the same pacing instead of bursting. */
export interface GateState {
  lastStartAt?: number;
  startsSinceCooldown: number;
  pauseUntil?: number;
  pauseReason?: string;
}

export interface Slot {
  /** Frees the slot when the job ends, however it ends. Calling it again does nothing. */
  release(): void;
  /**
   * Frees the slot as if it had never been granted: nothing was sent with it (another profile took
   * the job first). The start is taken back from the pacing unless a later start came since.
   */
  cancel(): void;
}

export interface AcquireOptions {
  /** Do not start before this time (epoch ms), a retry's backoff. The waiter holds no slot meanwhile. */
  readonly notBefore?: number;
  /** Aborting rejects the wait with `signal.reason`; nothing is held afterwards. */
  readonly signal?: AbortSignal;
  /** Higher starts first among waiters whose time has come; equal priorities keep arrival order.
   * @default 0 */
  readonly priority?: number;
}

export type WaitReason = 'gap' | 'cooldown' | 'pause' | 'backoff' | 'slot';

export type GateEvent =
  | { type: 'start'; at: number; inFlight: number }
  /** Nothing starts before `until`; for `slot`, not before a job also ends. */
  | { type: 'wait'; until: number; reason: WaitReason }
  | { type: 'pause'; until: number; reason: string }
  | { type: 'cooldown'; until: number };

interface Waiter {
  readonly notBefore: number;
  readonly priority: number;
  readonly resolve: (slot: Slot) => void;
  readonly detach: () => void;
}

export class Gate {
  readonly #opts: GateOptions;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #listeners = new Set<(event: GateEvent) => void>();
  #waiters: Waiter[] = [];
  #inFlight = 0;
  #lastStartAt: number | undefined;
  #startsSinceCooldown: number;
  #pauseUntil: number | undefined;
  #pauseReason: string | undefined;
  #gapMs: number;
  #wake: { at: number; abort: AbortController } | undefined;
  #announced = '';
  /** Starts granted so far: a cancelled slot undoes its start only if it is still the latest. */
  #starts = 0;

  constructor(options: GateOptions, restored?: GateState) {
    validateOptions(options);
    if (restored) validateState(restored);
    this.#opts = options;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#gapMs = this.#drawGap();
    this.#lastStartAt = restored?.lastStartAt;
    this.#startsSinceCooldown = restored?.startsSinceCooldown ?? 0;
    this.#pauseUntil = restored?.pauseUntil;
    this.#pauseReason = restored?.pauseUntil === undefined ? undefined : restored.pauseReason ?? 'restored';
    this.#tidy(this.#clock.now());
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** The pacing rules this gate keeps (for the estimate, src/plan/estimate.ts). */
  get pacing(): Pick<GateOptions, 'concurrency' | 'minGapMs' | 'jitterMs' | 'cooldownEvery' | 'cooldownMs'> {
    const { concurrency, minGapMs, jitterMs, cooldownEvery, cooldownMs } = this.#opts;
    return { concurrency, minGapMs, jitterMs, cooldownEvery, cooldownMs };
  }

  /**
   * Waits until a job may start: a free slot, the gap (and any cooldown) since the last start, no
   * pause, and not before `notBefore`. Among waiters whose time has come, the highest priority and
   * then the earliest caller goes first. Resolves with a slot the caller releases when the job ends.
   */
  acquire(options: AcquireOptions = {}): Promise<Slot> {
    const { notBefore = -Infinity, signal, priority = 0 } = options;
    if (options.notBefore !== undefined && !Number.isFinite(notBefore)) {
      return Promise.reject(new TypeError('Expected `notBefore` to be a finite number.'));
    }
    if (!Number.isFinite(priority)) {
      return Promise.reject(new TypeError('Expected `priority` to be a finite number.'));
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(signal!.reason);
        this.#pump();
      };
      const waiter: Waiter = {
        notBefore,
        priority,
        resolve,
        detach: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
      this.#pump();
    });
  }

  /** Holds every start until `until` (epoch ms); extends, never shortens, a pause unless `force`. */
  pauseUntil(until: number, reason: string, options: { readonly force?: boolean } = {}): void {
    if (!Number.isFinite(until)) throw new TypeError('Expected `until` to be a finite number.');
    const now = this.#clock.now();
    this.#tidy(now);
    if (!options.force && until <= (this.#pauseUntil ?? now)) return;
    this.#pauseUntil = until > now ? until : undefined;
    this.#pauseReason = until > now ? reason : undefined;
    this.#emit({ type: 'pause', until, reason });
    this.#pump();
  }

  state(): GateState {
    this.#tidy(this.#clock.now());
    const state: GateState = { startsSinceCooldown: this.#startsSinceCooldown };
    if (this.#lastStartAt !== undefined) state.lastStartAt = this.#lastStartAt;
    if (this.#pauseUntil !== undefined) {
      state.pauseUntil = this.#pauseUntil;
      state.pauseReason = this.#pauseReason;
    }
    return state;
  }

  /** Calls `listener` for every event; returns the function that unsubscribes it. */
  onChange(listener: (event: GateEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Time from the first start until the n-th job ends, with every gap at its mean
   * (`minGapMs + jitterMs / 2`) and every job taking `jobMs`: the pacing's share of an ETA.
   */
  static idealDurationMs(n: number, jobMs: number, options: Omit<GateOptions, 'clock' | 'random'>): number {
    validateOptions(options);
    if (!Number.isInteger(n) || n < 0) throw new TypeError('Expected `n` to be a non-negative integer.');
    if (!isNonNegative(jobMs)) throw new TypeError('Expected `jobMs` to be a non-negative number.');
    const { concurrency, minGapMs, jitterMs, cooldownEvery, cooldownMs } = options;
    const starts: number[] = [];
    for (let i = 0; i < n; i++) {
      const cooldown = cooldownEvery > 0 && i % cooldownEvery === 0 ? cooldownMs : 0;
      const paced = i === 0 ? 0 : starts[i - 1] + Math.max(minGapMs + jitterMs / 2, cooldown);
      starts.push(i < concurrency ? paced : Math.max(paced, starts[i - concurrency] + jobMs));
    }
    return n === 0 ? 0 : starts[n - 1] + jobMs;
  }

  // Re-evaluated on every new waiter, release, abort, pause and timer; at most one timer is armed.
  #pump(): void {
    const now = this.#clock.now();
    this.#tidy(now);
    while (this.#waiters.length > 0) {
      const pace = this.#paceBound();
      const soonest = this.#waiters.reduce((min, w) => Math.min(min, w.notBefore), Infinity);
      const next = soonest > pace.at ? { at: soonest, reason: 'backoff' as const } : pace;
      if (this.#inFlight >= this.#opts.concurrency) {
        this.#disarm();
        this.#announce(Math.max(next.at, now), 'slot');
        return;
      }
      if (next.at > now) {
        this.#arm(next.at, now);
        this.#announce(next.at, next.reason);
        return;
      }
      this.#start(now);
    }
    this.#disarm();
  }

  /** Earliest time pacing alone allows the next start, and what sets it. */
  #paceBound(): { at: number; reason: WaitReason } {
    let bound: { at: number; reason: WaitReason } = { at: -Infinity, reason: 'gap' };
    const raise = (at: number, reason: WaitReason) => {
      if (at > bound.at) bound = { at, reason };
    };
    if (this.#lastStartAt !== undefined) {
      raise(this.#lastStartAt + this.#gapMs, 'gap');
      if (this.#cooldownDue()) raise(this.#lastStartAt + this.#opts.cooldownMs, 'cooldown');
    }
    if (this.#pauseUntil !== undefined) raise(this.#pauseUntil, 'pause');
    return bound;
  }

  #start(now: number): void {
    const eligible = this.#waiters.filter((w) => w.notBefore <= now);
    const waiter = eligible.reduce((best, w) => (w.priority > best.priority ? w : best));
    this.#waiters = this.#waiters.filter((w) => w !== waiter);
    waiter.detach();
    const before = { lastStartAt: this.#lastStartAt, startsSinceCooldown: this.#startsSinceCooldown, gapMs: this.#gapMs };
    this.#startsSinceCooldown = this.#cooldownDue() ? 1 : this.#startsSinceCooldown + 1;
    this.#lastStartAt = now;
    this.#gapMs = this.#drawGap();
    this.#inFlight++;
    this.#announced = '';
    const serial = ++this.#starts;
    let released = false;
    const free = (undo: boolean) => {
      if (released) return;
      released = true;
      if (undo && serial === this.#starts) {
        this.#lastStartAt = before.lastStartAt;
        this.#startsSinceCooldown = before.startsSinceCooldown;
        this.#gapMs = before.gapMs;
        this.#starts -= 1;
      }
      this.#inFlight--;
      this.#pump();
    };
    waiter.resolve({ release: () => free(false), cancel: () => free(true) });
    this.#emit({ type: 'start', at: now, inFlight: this.#inFlight });
    if (this.#cooldownDue()) this.#emit({ type: 'cooldown', until: now + this.#opts.cooldownMs });
  }

  // `>=` rather than `===`: a restored count may exceed a cooldownEvery lowered since.
  #cooldownDue(): boolean {
    return this.#opts.cooldownEvery > 0 && this.#startsSinceCooldown >= this.#opts.cooldownEvery;
  }

  // A last start "in the future" means the wall clock stepped back; counting the gap from it would
  // stall the run for as long as the step, so the gap counts from now instead.
  #tidy(now: number): void {
    if (this.#lastStartAt !== undefined && this.#lastStartAt > now) this.#lastStartAt = now;
    if (this.#pauseUntil !== undefined && this.#pauseUntil <= now) {
      this.#pauseUntil = undefined;
      this.#pauseReason = undefined;
    }
  }

  #drawGap(): number {
    return this.#opts.minGapMs + this.#random() * this.#opts.jitterMs;
  }

  #arm(at: number, now: number): void {
    if (this.#wake?.at === at) return;
    this.#disarm();
    const wake = { at, abort: new AbortController() };
    this.#wake = wake;
    this.#clock.sleep(at - now, wake.abort.signal).then(
      () => {
        if (this.#wake !== wake) return;
        this.#wake = undefined;
        this.#pump();
      },
      () => {},
    );
  }

  #disarm(): void {
    this.#wake?.abort.abort();
    this.#wake = undefined;
  }

  #announce(until: number, reason: WaitReason): void {
    const key = `${reason}@${until}`;
    if (key === this.#announced) return;
    this.#announced = key;
    this.#emit({ type: 'wait', until, reason });
  }

  // A throwing listener must not leave the gate half-updated, so its error surfaces on its own.
  #emit(event: GateEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}

/** The prompt file's pacing (seconds) as gate options (milliseconds). */
export function pacingToGateOptions(pacing: Pacing): GateOptions {
  return {
    concurrency: pacing.concurrency,
    minGapMs: pacing.minGapSeconds * 1000,
    jitterMs: pacing.jitterSeconds * 1000,
    cooldownEvery: pacing.cooldownEvery,
    cooldownMs: pacing.cooldownSeconds * 1000,
  };
}

function validateOptions(options: Omit<GateOptions, 'clock' | 'random'> & Partial<GateOptions>): void {
  if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
    throw new TypeError('Expected `concurrency` to be a positive integer.');
  }
  for (const key of ['minGapMs', 'jitterMs', 'cooldownMs'] as const) {
    if (!isNonNegative(options[key])) throw new TypeError(`Expected \`${key}\` to be a non-negative number.`);
  }
  if (!Number.isInteger(options.cooldownEvery) || options.cooldownEvery < 0) {
    throw new TypeError('Expected `cooldownEvery` to be a non-negative integer.');
  }
  if (options.random !== undefined && typeof options.random !== 'function') {
    throw new TypeError('Expected `random` to be a function.');
  }
}

function validateState(state: GateState): void {
  for (const key of ['lastStartAt', 'pauseUntil'] as const) {
    const value = state[key];
    if (value !== undefined && !Number.isFinite(value)) {
      throw new TypeError(`Expected restored \`${key}\` to be a finite number.`);
    }
  }
  if (!Number.isInteger(state.startsSinceCooldown) || state.startsSinceCooldown < 0) {
    throw new TypeError('Expected restored `startsSinceCooldown` to be a non-negative integer.');
  }
}
