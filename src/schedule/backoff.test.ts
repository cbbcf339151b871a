import { afterEach, describe, expect, it, vi } from 'vitest';
import { backoffMs, cooldownPauseMs } from './backoff.js';
import { systemClock } from './clock.js';

const MINUTE = 60_000;

describe('backoffMs', () => {
  it('doubles from 10 s and stops at 5 min', () => {
    const delays = Array.from({ length: 8 }, (_, i) => backoffMs(i + 1, { random: () => 0.5 }));
    expect(delays).toEqual([10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000]);
  });

  it('jitters by at most 20% either way', () => {
    expect(backoffMs(1, { random: () => 0 })).toBe(8_000);
    expect(backoffMs(1, { random: () => 0.999999 })).toBe(12_000);
    expect(backoffMs(60, { random: () => 0 })).toBe(240_000);
  });

  it('takes its own base and cap', () => {
    expect(backoffMs(3, { baseMs: 1_000, capMs: 3_000, random: () => 0.5 })).toBe(3_000);
  });

  it('explains a bad attempt number', () => {
    expect(() => backoffMs(0)).toThrow('Expected `attempt` to be a positive integer.');
  });
});

describe('cooldownPauseMs', () => {
  it('pauses 5–10 min after the first cooldown and grows with each one in a row', () => {
    expect([cooldownPauseMs(1, () => 0), cooldownPauseMs(1, () => 0.999999)]).toEqual([5 * MINUTE, 10 * MINUTE]);
    expect(cooldownPauseMs(2, () => 0)).toBe(10 * MINUTE);
    expect(cooldownPauseMs(3, () => 0)).toBe(15 * MINUTE);
  });

  it('never pauses longer than 30 min', () => {
    expect(cooldownPauseMs(50, () => 0.999999)).toBeLessThanOrEqual(30 * MINUTE);
  });
});

describe('systemClock', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sleeps for the given time', async () => {
    vi.useFakeTimers();
    let done = false;
    systemClock.sleep(1_000).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(done).toBe(true);
  });

  it('rejects with the signal’s reason when aborted', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    const sleeping = systemClock.sleep(1_000, controller.signal);
    const reason = new Error('stop');
    controller.abort(reason);
    await expect(sleeping).rejects.toBe(reason);
    expect(vi.getTimerCount()).toBe(0);
  });
});
