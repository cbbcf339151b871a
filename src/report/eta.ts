// How long the rest of a run will take, and how fast it goes: pure functions of what the status block
// has seen, with the time passed in, so they are tested with fixed inputs.

/** The gate's pacing (the `pacing` event): what spaces the starts apart. */
export interface EtaPacing {
  readonly minGapMs: number;
  readonly jitterMs: number;
  /** A cooldown follows every N-th start; 0 = never. */
  readonly cooldownEvery: number;
  readonly cooldownMs: number;
  /** Starts since the last cooldown, counted up to now. */
  readonly startsSinceCooldown: number;
}

export interface EtaInput {
  readonly now: number;
  /** Jobs still to end this run, those in flight included. */
  readonly remaining: number;
  /** When each job in flight started (epoch ms). */
  readonly inFlightSince: readonly number[];
  /** The moving window: how long each of the last images took, from its start to verified. */
  readonly recentJobMs: readonly number[];
  /** Jobs in flight at once (the gate's slots). */
  readonly concurrency: number;
  /** The gate's pacing; without it the starts are spaced as the recent ones were (`recentStartGapMs`). */
  readonly pacing?: EtaPacing;
  /** Without `pacing`: the typical (median) time between the recent starts. */
  readonly recentStartGapMs?: number;
  /** The last start (epoch ms): the next one comes a gap (or a cooldown) after it. */
  readonly lastStartAt?: number;
  /** Nothing starts before this (a pause still ahead, or the gate's announced next start). */
  readonly notBefore?: number;
}

/** Images measured for the time per image. */
export const ETA_WINDOW = 10;

export function mean(values: readonly number[]): number {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Milliseconds until the last remaining job ends, or `undefined` before any image was measured.
 * The jobs in flight end when the measured time per image has passed since their start; every other
 * job starts when a slot is free, a gap (its mean, `minGap + jitter / 2`) after the start before it,
 * a cooldown after every N-th start, and never before `notBefore` (a pause); each then takes the
 * measured time. This is the gate's own rule (`Gate.idealDurationMs`), begun from the present state.
 */
export function estimateRemainingMs(input: EtaInput): number | undefined {
  const { now, concurrency, pacing } = input;
  const remaining = Math.max(0, Math.floor(input.remaining));
  if (remaining === 0) return 0;
  const window = input.recentJobMs.slice(-ETA_WINDOW).filter((ms) => Number.isFinite(ms) && ms >= 0);
  if (window.length === 0) return undefined;
  const jobMs = mean(window);
  const slotCount = Math.max(1, Math.floor(concurrency), input.inFlightSince.length);
  const inFlight = input.inFlightSince.slice(0, remaining);
  // When each slot is next free: a job in flight ends a job's time after its start (or now, if it is
  // already overdue); an idle slot is free now.
  const slots = Array.from({ length: slotCount }, (_, i) => (i < inFlight.length ? Math.max(now, inFlight[i] + jobMs) : now));
  const gapMs = pacing ? pacing.minGapMs + pacing.jitterMs / 2 : Math.max(0, input.recentStartGapMs ?? 0);
  const notBefore = Math.max(now, input.notBefore ?? now);
  let lastStart = input.lastStartAt;
  let sinceCooldown = pacing?.startsSinceCooldown ?? 0;
  for (let i = inFlight.length; i < remaining; i++) {
    const cooldownDue = pacing !== undefined && pacing.cooldownEvery > 0 && sinceCooldown >= pacing.cooldownEvery;
    const paced = lastStart === undefined ? -Infinity : lastStart + (cooldownDue ? Math.max(gapMs, pacing!.cooldownMs) : gapMs);
    let slot = 0;
    for (let s = 1; s < slots.length; s++) if (slots[s] < slots[slot]) slot = s;
    const start = Math.max(paced, slots[slot], notBefore);
    sinceCooldown = cooldownDue ? 1 : sinceCooldown + 1;
    lastStart = start;
    slots[slot] = start + jobMs;
  }
  return Math.max(0, Math.max(...slots) - now);
}

/** Completions kept for the rate. */
export const RATE_WINDOW = 20;

/**
 * Images per hour over the last completions (at most `RATE_WINDOW`): how many ended from the one
 * before the window (or `since`, the run's first start) until now. `undefined` before any.
 */
export function imagesPerHour(completions: readonly number[], since: number | undefined, now: number): number | undefined {
  const recent = completions.slice(-(RATE_WINDOW + 1));
  if (recent.length === 0) return undefined;
  const [from, count] = recent.length > RATE_WINDOW ? [recent[0], recent.length - 1] : [since ?? recent[0], recent.length];
  const span = now - from;
  if (span <= 0 || count === 0) return undefined;
  return (count / span) * 3_600_000;
}
