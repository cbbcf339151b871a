// Delays between tries (ARCHITECTURE §5). Jitter keeps retries and cooldowns from looking machine-made
// and stops several profiles that failed together from retrying together.

const MINUTE = 60_000;

export interface BackoffOptions {
  /** Delay before the first retry.
   * @default 10_000 */
  readonly baseMs?: number;
  /** Largest delay before jitter.
   * @default 300_000 */
  readonly capMs?: number;
  /** @default Math.random */
  readonly random?: () => number;
}

/**
 * Delay before retry number `attempt` (1 = the first retry): `baseMs · 2^(attempt−1)`, capped at
 * `capMs`, then jittered by ±20% (so 8–12 s, 16–24 s, 32–48 s … and 240–360 s at the default cap).
 * Not "full jitter": a retry 0 s after a failure is exactly the burst the pacing exists to avoid.
 */
export function backoffMs(attempt: number, options: BackoffOptions = {}): number {
  const { baseMs = 10_000, capMs = 300_000, random = Math.random } = options;
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new TypeError('Expected `attempt` to be a positive integer.');
  }
  if (!isNonNegative(baseMs)) throw new TypeError('Expected `baseMs` to be a non-negative number.');
  if (!isNonNegative(capMs)) throw new TypeError('Expected `capMs` to be a non-negative number.');
  const delay = Math.min(baseMs * 2 ** (attempt - 1), capMs);
  return Math.round(delay * (0.8 + 0.4 * random()));
}

/**
 * Pause after the site's n-th cooldown in a row (1 = the first): 5–10 min, then 10–20 min, then
 * 15–30 min for every further one. Always jittered, never above 30 min.
 */
export function cooldownPauseMs(consecutive: number, random: () => number = Math.random): number {
  if (!Number.isInteger(consecutive) || consecutive < 1) {
    throw new TypeError('Expected `consecutive` to be a positive integer.');
  }
  const base = Math.min(5 * MINUTE * 2 ** (consecutive - 1), 15 * MINUTE);
  return Math.round(base * (1 + random()));
}

export const isNonNegative = (value: unknown): value is number =>
  typeof value === 'number' && Number.isFinite(value) && value >= 0;
