import { describe, expect, it } from 'vitest';
import { Gate } from '../schedule/gate.js';
import { countInWindow, estimateFinish, estimateRun, profilesNeeded, type EstimateInput } from './estimate.js';

const HOUR = 3_600_000;
const now = Date.UTC(2026, 11, 4, 12);
const gate = { concurrency: 5, minGapMs: 8000, jitterMs: 2000, cooldownEvery: 25, cooldownMs: 60_000 };
const base: EstimateInput = { jobs: 2000, profiles: 1, gate, imageMs: 60_000, quota: { images: 50, windowMs: 3 * HOUR }, now };

describe('estimateRun', () => {
  it('a 2,000-panel book at 50 images per 3 h: about five days on one account, about 20 hours on six (DESIGN §13)', () => {
    const one = estimateRun(base);
    expect(one.limitedBy).toBe('quota');
    expect(one.durationMs / HOUR).toBeGreaterThan(115);
    expect(one.durationMs / HOUR).toBeLessThan(122);
    const six = estimateRun({ ...base, profiles: 6 });
    expect(six.durationMs / HOUR).toBeGreaterThan(18);
    expect(six.durationMs / HOUR).toBeLessThan(22);
    expect(six.perProfile.map((p) => p.jobs).reduce((a, b) => a + b)).toBe(2000);
    expect(Math.max(...six.perProfile.map((p) => p.jobs)) - Math.min(...six.perProfile.map((p) => p.jobs))).toBeLessThanOrEqual(1);
  });

  it('without a quota the pacing sets it: N jobs are about N gaps apart', () => {
    const e = estimateRun({ ...base, jobs: 100, quota: undefined, gate: { ...gate, cooldownEvery: 0 } });
    expect(e.limitedBy).toBe('generation');
    // 5 tabs of 60 s images: 12 s a start, slower than the 9 s gap.
    expect(e.durationMs).toBeCloseTo(95 * 12_000 + 4 * 9000 + 60_000, -4);
  });

  it("one profile without a quota takes exactly the gate's own ideal duration (Gate.idealDurationMs)", () => {
    for (const g of [gate, { ...gate, concurrency: 1 }, { ...gate, cooldownEvery: 3, cooldownMs: 30_000 }, { ...gate, minGapMs: 0, jitterMs: 0, cooldownEvery: 0 }]) {
      for (const jobs of [0, 1, 4, 26, 77]) {
        for (const imageMs of [1000, 60_000]) {
          expect(estimateRun({ ...base, jobs, gate: g, imageMs, quota: undefined }).durationMs).toBe(Gate.idealDurationMs(jobs, imageMs, g));
        }
      }
    }
  });

  it('0 jobs take nothing; more jobs never take less; more profiles never take longer; a quota never makes it faster', () => {
    expect(estimateRun({ ...base, jobs: 0 }).durationMs).toBe(0);
    let previous = 0;
    for (const jobs of [1, 10, 60, 200, 400]) {
      const d = estimateRun({ ...base, jobs }).durationMs;
      expect(d).toBeGreaterThanOrEqual(previous);
      previous = d;
    }
    for (const jobs of [7, 120, 700]) {
      let before = Infinity;
      for (let profiles = 1; profiles <= 8; profiles++) {
        const d = estimateRun({ ...base, jobs, profiles }).durationMs;
        expect(d).toBeLessThanOrEqual(before);
        before = d;
        expect(d).toBeGreaterThanOrEqual(estimateRun({ ...base, jobs, profiles, quota: undefined }).durationMs);
      }
    }
  });

  it('a profile paused until its cap resets starts then; the others take the jobs meanwhile', () => {
    const paused = { pauseUntil: now + 10 * HOUR };
    const alone = estimateRun({ ...base, jobs: 10, profiles: [paused], quota: undefined });
    expect(alone.durationMs).toBeGreaterThanOrEqual(10 * HOUR);
    const shared = estimateRun({ ...base, jobs: 10, profiles: [paused, {}], quota: undefined });
    expect(shared.perProfile[0].jobs).toBe(0);
    expect(shared.durationMs).toBeLessThan(HOUR);
  });

  it('an account that used its window waits for the window to end', () => {
    const used = { imagesInWindow: 50, windowStartedAt: now - HOUR };
    const e = estimateRun({ ...base, jobs: 1, profiles: [used] });
    expect(e.durationMs).toBe(2 * HOUR + 60_000);
    // The live ETA's shorter path ends at the same time.
    expect(estimateFinish({ ...base, jobs: 1, profiles: [used] })).toBe(e.finishAt);
  });

  it('counts a window from its first start, and a new one from the first start after it ended', () => {
    let window = countInWindow(undefined, now, HOUR);
    window = countInWindow(window, now + HOUR - 1, HOUR);
    expect(window).toEqual({ start: now, count: 2 });
    expect(countInWindow(window, now + HOUR, HOUR)).toEqual({ start: now + HOUR, count: 1 });
  });
});

describe('profilesNeeded', () => {
  it('says how many accounts finish by a time, or none when even the most cannot', () => {
    const input = { ...base };
    expect(profilesNeeded(input, now + 24 * HOUR)).toBe(5);
    expect(profilesNeeded(input, now + 6 * 24 * HOUR)).toBe(1);
    expect(profilesNeeded(input, now + 60_000, 50)).toBeUndefined();
  });
});
