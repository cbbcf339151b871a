// How long the jobs left take on N accounts (docs/ARCHITECTURE.md §10 "The estimate"): the model
// behind `semantest-run plan` and `status`. Each job goes to the profile that can start it soonest,
// as the dispatcher hands them out; each profile is paced by its gate (gap, jitter at its mean,
// cooldowns, its tabs) and its account may make at most `quota.images` images per
// `quota.windowMs`, a window starting at its first image. A pause a profile is in delays its start.

export interface ProfileNow {
  /** epoch ms: nothing starts on this profile before. */
  pauseUntil?: number;
  /** epoch ms of its last start (the gap counts from it). */
  lastStartAt?: number;
  /** Starts since its last cooldown. */
  startsSinceCooldown?: number;
  /** Images made in its current quota window, and when that window began (epoch ms). */
  imagesInWindow?: number;
  windowStartedAt?: number;
}

export interface EstimateInput {
  /** Jobs left to run. */
  jobs: number;
  /** How many accounts, or each one's current state. */
  profiles: number | ProfileNow[];
  /** One profile's pacing (each profile has its own gate with these rules). */
  gate: { concurrency: number; minGapMs: number; jitterMs: number; cooldownEvery: number; cooldownMs: number };
  /** Time from a start to a verified image. */
  imageMs: number;
  /** What one account may make per window. */
  quota?: { images: number; windowMs: number };
  now: number;
}

export interface Estimate {
  durationMs: number;
  finishAt: number;
  perProfile: Array<{ jobs: number; durationMs: number }>;
  /** What sets the pace: the quota, the gate's pacing, or the time an image takes with every tab busy. */
  limitedBy: 'pacing' | 'quota' | 'generation';
}

interface Sim {
  starts: number[];
  lastStart?: number;
  sinceCooldown: number;
  pauseUntil: number;
  windowStart?: number;
  inWindow: number;
}

export function estimateRun(input: EstimateInput): Estimate {
  check(input);
  const withQuota = simulate(input);
  if (input.jobs === 0) return { ...withQuota, limitedBy: 'pacing' };
  let limitedBy: Estimate['limitedBy'];
  if (input.quota && simulate({ ...input, quota: undefined }).durationMs * 1.05 < withQuota.durationMs) limitedBy = 'quota';
  else {
    const { concurrency, minGapMs, jitterMs } = input.gate;
    limitedBy = input.imageMs / concurrency > minGapMs + jitterMs / 2 ? 'generation' : 'pacing';
  }
  return { ...withQuota, limitedBy };
}

/**
 * When the jobs left end (epoch ms): estimateRun without `limitedBy`, whose second run of the model
 * (without the quota) a live ETA redrawn several times a second has no use for.
 */
export function estimateFinish(input: EstimateInput): number {
  check(input);
  return simulate(input).finishAt;
}

/** A quota window: when its first start was (epoch ms), and the starts in it. */
export interface QuotaWindow {
  start: number;
  count: number;
}

/**
 * `window` after a start at `at`: a window begins at the first start after the last one ended, as
 * the model counts it (so the run's live counts and the estimate agree).
 */
export function countInWindow(window: QuotaWindow | undefined, at: number, windowMs: number): QuotaWindow {
  return !window || at >= window.start + windowMs ? { start: at, count: 1 } : { start: window.start, count: window.count + 1 };
}

/** The fewest profiles that finish by `byMs` (epoch ms), or undefined if even `max` cannot. */
export function profilesNeeded(input: Omit<EstimateInput, 'profiles'>, byMs: number, max = 50): number | undefined {
  for (let n = 1; n <= max; n++) if (estimateRun({ ...input, profiles: n }).finishAt <= byMs) return n;
  return undefined;
}

function simulate(input: EstimateInput): Omit<Estimate, 'limitedBy'> {
  const { gate, imageMs, quota, now } = input;
  const states: ProfileNow[] = typeof input.profiles === 'number' ? Array.from({ length: input.profiles }, () => ({})) : input.profiles;
  const sims: Sim[] = states.map((p) => ({
    starts: [],
    ...(p.lastStartAt !== undefined ? { lastStart: Math.min(p.lastStartAt, now) } : {}),
    sinceCooldown: p.startsSinceCooldown ?? 0,
    pauseUntil: Math.max(now, p.pauseUntil ?? now),
    ...(p.windowStartedAt !== undefined && quota && p.windowStartedAt + quota.windowMs > now ? { windowStart: p.windowStartedAt } : {}),
    inWindow: p.imagesInWindow ?? 0,
  }));
  const meanGap = gate.minGapMs + gate.jitterMs / 2;
  const next = (s: Sim): number => {
    let at = s.pauseUntil;
    if (s.lastStart !== undefined) {
      const cooling = gate.cooldownEvery > 0 && s.sinceCooldown >= gate.cooldownEvery;
      at = Math.max(at, s.lastStart + (cooling ? Math.max(meanGap, gate.cooldownMs) : meanGap));
    }
    // A tab frees when the job `concurrency` starts back ends.
    const n = s.starts.length;
    if (n >= gate.concurrency) at = Math.max(at, s.starts[n - gate.concurrency] + imageMs);
    if (quota && s.windowStart !== undefined) {
      if (at >= s.windowStart + quota.windowMs) return at;
      if (s.inWindow >= quota.images) at = Math.max(at, s.windowStart + quota.windowMs);
    }
    return at;
  };
  for (let job = 0; job < input.jobs; job++) {
    let best = 0;
    let bestAt = Infinity;
    sims.forEach((s, i) => {
      const at = next(s);
      if (at < bestAt) [best, bestAt] = [i, at];
    });
    const s = sims[best];
    if (quota) {
      if (s.windowStart === undefined || bestAt >= s.windowStart + quota.windowMs) {
        s.windowStart = bestAt;
        s.inWindow = 0;
      }
      s.inWindow += 1;
    }
    s.sinceCooldown = gate.cooldownEvery > 0 && s.sinceCooldown >= gate.cooldownEvery ? 1 : s.sinceCooldown + 1;
    s.lastStart = bestAt;
    s.starts.push(bestAt);
  }
  const perProfile = sims.map((s) => ({ jobs: s.starts.length, durationMs: s.starts.length ? Math.max(...s.starts.slice(-gate.concurrency)) + imageMs - now : 0 }));
  const durationMs = Math.max(0, ...perProfile.map((p) => p.durationMs));
  return { durationMs, finishAt: now + durationMs, perProfile };
}

function check(input: EstimateInput): void {
  if (!Number.isInteger(input.jobs) || input.jobs < 0) throw new TypeError('Expected `jobs` to be a whole number ≥ 0.');
  const n = typeof input.profiles === 'number' ? input.profiles : input.profiles.length;
  if (!Number.isInteger(n) || n < 1) throw new TypeError('Expected at least one profile.');
  if (!(input.imageMs >= 0) || !Number.isFinite(input.imageMs)) throw new TypeError('Expected `imageMs` to be a finite number ≥ 0.');
  if (input.quota && (!(input.quota.images >= 1) || !(input.quota.windowMs > 0))) throw new TypeError('Expected a quota of at least 1 image per a positive window.');
}
