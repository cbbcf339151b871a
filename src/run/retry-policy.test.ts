import { describe, expect, it } from 'vitest';
import { FAILURE_KINDS, type FailureKind } from '../protocol/errors.js';
import { QUOTA_FALLBACK_MS, checkRetryPolicyOptions, decideRetry, type RetryPolicyOptions } from './retry-policy.js';

const options: RetryPolicyOptions = { retries: 3, backoffBaseMs: 10_000, quotaMarginMs: 120_000, rateLimitPauseMs: 300_000, headless: true, random: () => 0.5 };
const first = { failures: 1, consecutiveCooldowns: 0 };

describe('retry policy', () => {
  it('never sends a refused prompt again and forgets its conversation', () => {
    expect(decideRetry({ kind: 'policy' }, first, options)).toEqual({ action: 'fail', delayMs: 0, countsAsAttempt: true, forgetConversation: true });
  });

  it('retries counted failures with doubling, jittered backoff, then fails after the last retry', () => {
    for (const kind of ['transient', 'timeout', 'disconnect', 'verify'] as FailureKind[]) {
      const delays = [1, 2, 3].map((failures) => decideRetry({ kind }, { failures, consecutiveCooldowns: 0 }, options));
      expect(delays.map((d) => d.action)).toEqual(['retry', 'retry', 'retry']);
      expect(delays.map((d) => d.delayMs)).toEqual([10_000, 20_000, 40_000]);
      expect(delays.every((d) => d.countsAsAttempt)).toBe(true);
      expect(decideRetry({ kind }, { failures: 4, consecutiveCooldowns: 0 }, options)).toMatchObject({ action: 'fail', countsAsAttempt: true });
    }
  });

  it('looks for a late image after a timeout, a lost page or a failed check, but not after a text answer', () => {
    for (const kind of ['transient', 'timeout', 'disconnect', 'verify'] as FailureKind[]) {
      expect(decideRetry({ kind }, first, options).forgetConversation).toBe(false);
    }
    expect(decideRetry({ kind: 'no-image' }, first, options).forgetConversation).toBe(true);
    expect(decideRetry({ kind: 'verify', answerSpent: true }, first, options).forgetConversation).toBe(true);
  });

  it('retries an answer in words once, then fails it', () => {
    expect(decideRetry({ kind: 'no-image' }, { failures: 1, sameKind: 1, consecutiveCooldowns: 0 }, options).action).toBe('retry');
    expect(decideRetry({ kind: 'no-image' }, { failures: 2, sameKind: 2, consecutiveCooldowns: 0 }, options).action).toBe('fail');
  });

  it('tries a page that does not match the descriptor once more, then stops the run', () => {
    expect(decideRetry({ kind: 'drift' }, { ...first, consecutiveDrifts: 1 }, options)).toMatchObject({ action: 'retry', delayMs: 10_000, countsAsAttempt: false });
    expect(decideRetry({ kind: 'drift' }, { ...first, consecutiveDrifts: 2 }, options)).toMatchObject({ action: 'stop-run', countsAsAttempt: false });
  });

  it('with no retries, the first counted failure is final', () => {
    expect(decideRetry({ kind: 'transient' }, first, { ...options, retries: 0 }).action).toBe('fail');
  });

  it('pauses the profile until a usage cap resets plus the margin, without using a retry', () => {
    expect(decideRetry({ kind: 'quota', resetInMs: 60_000 }, first, options)).toEqual({
      action: 'pause-profile',
      delayMs: 180_000,
      countsAsAttempt: false,
      forgetConversation: true,
    });
    expect(decideRetry({ kind: 'quota' }, first, options).delayMs).toBe(QUOTA_FALLBACK_MS + 120_000);
  });

  it('pauses the profile 5–10 min after "slow down", longer for cooldowns in a row, scaled by --rate-limit-pause', () => {
    const one = decideRetry({ kind: 'cooldown' }, { failures: 1, consecutiveCooldowns: 1 }, options);
    expect(one).toMatchObject({ action: 'pause-profile', countsAsAttempt: false, forgetConversation: true });
    expect(one.delayMs).toBe(7.5 * 60_000);
    expect(decideRetry({ kind: 'cooldown' }, { failures: 1, consecutiveCooldowns: 2 }, options).delayMs).toBe(15 * 60_000);
    expect(decideRetry({ kind: 'cooldown' }, { failures: 1, consecutiveCooldowns: 1 }, { ...options, rateLimitPauseMs: 3_000 }).delayMs).toBe(4_500);
  });

  it('stops a headless run at a login wall or challenge, and waits for the person in a window', () => {
    for (const kind of ['login', 'challenge'] as FailureKind[]) {
      expect(decideRetry({ kind }, first, options)).toMatchObject({ action: 'stop-run', countsAsAttempt: false, forgetConversation: false });
      expect(decideRetry({ kind }, first, { ...options, headless: false })).toMatchObject({ action: 'wait-for-human', countsAsAttempt: false });
    }
  });

  it('retries a failed upload with backoff, counted, then fails it; a reference that cannot be sent fails at once without using a retry', () => {
    const tries = [1, 2, 3, 4].map((failures) => decideRetry({ kind: 'upload' }, { failures, consecutiveCooldowns: 0 }, options));
    expect(tries.map((d) => d.action)).toEqual(['retry', 'retry', 'retry', 'fail']);
    expect(tries.slice(0, 3).map((d) => d.delayMs)).toEqual([10_000, 20_000, 40_000]);
    expect(tries.every((d) => d.countsAsAttempt)).toBe(true);
    expect(decideRetry({ kind: 'attachment' }, first, options)).toEqual({ action: 'fail', delayMs: 0, countsAsAttempt: false, forgetConversation: false });
  });

  it('stops the run on a fatal error', () => {
    expect(decideRetry({ kind: 'fatal' }, first, options)).toMatchObject({ action: 'stop-run', countsAsAttempt: false });
  });

  it('has an answer for every failure kind', () => {
    for (const kind of FAILURE_KINDS) expect(() => decideRetry({ kind }, first, options)).not.toThrow();
  });

  it('checks its options up front, in sentences', () => {
    expect(() => checkRetryPolicyOptions({ ...options, retries: -1 })).toThrow('Expected `retries` to be a non-negative integer.');
    expect(() => checkRetryPolicyOptions({ ...options, backoffBaseMs: Number.NaN })).toThrow('Expected `backoffBaseMs` to be a non-negative number.');
  });
});
