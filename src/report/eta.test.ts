import { describe, expect, it } from 'vitest';
import { Gate } from '../schedule/gate.js';
import { estimateRemainingMs, imagesPerHour, RATE_WINDOW, type EtaInput } from './eta.js';

const NOW = 1_000_000_000_000;
const S = 1000;
const MIN = 60 * S;
const H = 60 * MIN;

function eta(input: Partial<EtaInput>): number | undefined {
  return estimateRemainingMs({ now: NOW, remaining: 0, inFlightSince: [], recentJobMs: [], concurrency: 1, ...input });
}

describe('estimateRemainingMs', () => {
  it('is 0 with nothing left and unknown before the first image is measured', () => {
    expect(eta({ remaining: 0 })).toBe(0);
    expect(eta({ remaining: 5, recentJobMs: [] })).toBeUndefined();
  });

  it('is the remaining count times the time per image, shared by the slots', () => {
    expect(eta({ remaining: 3, recentJobMs: [60 * S], concurrency: 1 })).toBe(180 * S);
    expect(eta({ remaining: 4, recentJobMs: [60 * S], concurrency: 2 })).toBe(120 * S);
    expect(eta({ remaining: 5, recentJobMs: [60 * S], concurrency: 2 })).toBe(180 * S);
  });

  it('takes the mean of the last 10 images only (a moving window)', () => {
    const old = Array.from({ length: 5 }, () => 1 * S);
    const recent = [50, 70, 50, 70, 50, 70, 50, 70, 50, 70].map((s) => s * S);
    expect(eta({ remaining: 1, recentJobMs: [...old, ...recent] })).toBe(60 * S);
  });

  it('counts the jobs in flight as already part done, never less than nothing', () => {
    const twentyAgo = NOW - 20 * S;
    // Two in flight end in 40 s; the third starts then and takes 60 s.
    expect(eta({ remaining: 3, recentJobMs: [60 * S], concurrency: 2, inFlightSince: [twentyAgo, twentyAgo] })).toBe(100 * S);
    // One running for longer than the measured time: it is due now.
    expect(eta({ remaining: 1, recentJobMs: [60 * S], inFlightSince: [NOW - 5 * MIN] })).toBe(0);
  });

  it('goes down as the clock runs while an image is being made', () => {
    const since = NOW;
    const at = (t: number) => estimateRemainingMs({ now: NOW + t, remaining: 2, inFlightSince: [since], recentJobMs: [60 * S], concurrency: 1 });
    expect([at(0), at(10 * S), at(30 * S)]).toEqual([120 * S, 110 * S, 90 * S]);
  });

  it('spaces the starts by the mean gap (min gap + half the jitter) after the last start', () => {
    const pacing = { minGapMs: 8 * S, jitterMs: 2 * S, cooldownEvery: 0, cooldownMs: 0, startsSinceCooldown: 0 };
    // The last start was 4 s ago: the next one in 5 s, then every 9 s; each takes 10 s.
    expect(eta({ remaining: 3, recentJobMs: [10 * S], concurrency: 5, pacing, lastStartAt: NOW - 4 * S })).toBe((5 + 9 + 9 + 10) * S);
  });

  it('counts the cooldowns ahead, from the starts made since the last one', () => {
    const pacing = { minGapMs: 0, jitterMs: 0, cooldownEvery: 2, cooldownMs: 60 * S, startsSinceCooldown: 1 };
    // One start before the cooldown, then 60 s of rest, then two more.
    expect(eta({ remaining: 3, recentJobMs: [10 * S], concurrency: 5, pacing, lastStartAt: NOW })).toBe(70 * S);
    // A cooldown already due: it comes first.
    expect(eta({ remaining: 1, recentJobMs: [10 * S], concurrency: 5, pacing: { ...pacing, startsSinceCooldown: 2 }, lastStartAt: NOW - 20 * S })).toBe(50 * S);
  });

  it('adds a pause still ahead (a usage cap until its reset)', () => {
    expect(eta({ remaining: 2, recentJobMs: [60 * S], concurrency: 2, notBefore: NOW + H })).toBe(H + 60 * S);
    // The jobs in flight are not held by it: only the starts are.
    expect(eta({ remaining: 2, recentJobMs: [60 * S], concurrency: 2, inFlightSince: [NOW], notBefore: NOW + H })).toBe(H + 60 * S);
    expect(eta({ remaining: 1, recentJobMs: [60 * S], inFlightSince: [NOW], notBefore: NOW + H })).toBe(60 * S);
    // A pause already over changes nothing.
    expect(eta({ remaining: 2, recentJobMs: [60 * S], notBefore: NOW - H })).toBe(120 * S);
  });

  it('without the gate\'s pacing, spaces the starts as the recent ones were', () => {
    expect(eta({ remaining: 3, recentJobMs: [10 * S], concurrency: 5, recentStartGapMs: 30 * S, lastStartAt: NOW })).toBe((30 + 30 + 30 + 10) * S);
  });

  it('agrees with the gate\'s ideal duration from a fresh start', () => {
    const cases = [
      { concurrency: 1, minGapMs: 8 * S, jitterMs: 2 * S, cooldownEvery: 25, cooldownMs: 60 * S, n: 60, jobMs: 45 * S },
      { concurrency: 5, minGapMs: 8 * S, jitterMs: 2 * S, cooldownEvery: 25, cooldownMs: 60 * S, n: 200, jobMs: 45 * S },
      { concurrency: 3, minGapMs: 0, jitterMs: 0, cooldownEvery: 4, cooldownMs: 5 * S, n: 17, jobMs: 2 * S },
      { concurrency: 2, minGapMs: 500, jitterMs: 500, cooldownEvery: 0, cooldownMs: 0, n: 9, jobMs: 3 * S },
    ];
    for (const { n, jobMs, ...options } of cases) {
      const ours = eta({
        remaining: n,
        recentJobMs: [jobMs],
        concurrency: options.concurrency,
        pacing: { minGapMs: options.minGapMs, jitterMs: options.jitterMs, cooldownEvery: options.cooldownEvery, cooldownMs: options.cooldownMs, startsSinceCooldown: 0 },
      });
      expect(ours).toBe(Gate.idealDurationMs(n, jobMs, options));
    }
  });
});

describe('imagesPerHour', () => {
  it('is unknown before the first image', () => {
    expect(imagesPerHour([], NOW, NOW + MIN)).toBeUndefined();
  });

  it('counts from the first start while the window is not full', () => {
    expect(imagesPerHour([NOW + 10 * MIN, NOW + 20 * MIN, NOW + 30 * MIN], NOW, NOW + 30 * MIN)).toBe(6);
  });

  it('counts the last images only, and falls while nothing ends', () => {
    // Slow at first (one every 10 min), then one a minute.
    const slow = Array.from({ length: 10 }, (_, i) => NOW + (i + 1) * 10 * MIN);
    const last = slow.at(-1)!;
    const fast = Array.from({ length: RATE_WINDOW + 5 }, (_, i) => last + (i + 1) * MIN);
    const end = fast.at(-1)!;
    expect(imagesPerHour([...slow, ...fast], NOW, end)).toBe(60);
    expect(imagesPerHour([...slow, ...fast], NOW, end + 20 * MIN)).toBe(30);
  });
});
