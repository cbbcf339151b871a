// How fast a run goes, and the small statistics the status block uses: pure functions of what it has
// seen, with the time passed in, so they are tested with fixed inputs. How long the rest takes is the
// planner's model (src/plan/estimate.ts estimateRun), the one the block, `status` and `plan` share.

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
