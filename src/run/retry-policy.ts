// What happens after a failed attempt (ARCHITECTURE §5, docs/ARCHITECTURE.md "Failure kinds"): one pure
// function of the failure and the job's history, as p-retry's `shouldRetry`/`shouldConsumeRetry`.
// It decides; the job runner acts. Nothing here waits, writes or reads a clock.
import type { FailureKind } from '../protocol/errors.js';
import { backoffMs, cooldownPauseMs } from '../schedule/backoff.js';

export interface RetryPolicyOptions {
  /** Retries after counted failures (transient, timeout, disconnect, verify, no-image).
   * @default 3 */
  readonly retries: number;
  /** Delay before the first retry, doubling.
   * @default 10_000 */
  readonly backoffBaseMs: number;
  /** Added to a usage cap's announced reset time. */
  readonly quotaMarginMs: number;
  /** First pause after "slow down"; later ones grow (ARCHITECTURE §5: 5–10 min at the default 300 s). */
  readonly rateLimitPauseMs: number;
  /** Headless runs cannot wait for a person. */
  readonly headless: boolean;
  /** @default Math.random */
  readonly random?: () => number;
}

export interface FailureFacts {
  readonly kind: FailureKind;
  /** quota: when the site says the limit resets. */
  readonly resetInMs?: number;
  /** The answer in that conversation is used up (it showed another panel's image): send afresh. */
  readonly answerSpent?: boolean;
}

export interface JobHistory {
  /** Counted failures of this job in this run, this one included. */
  readonly failures: number;
  /** Failures of this job of this one's kind in this run, this one included.
   * @default failures */
  readonly sameKind?: number;
  /** Cooldowns in a row across the profile, this one included. */
  readonly consecutiveCooldowns: number;
  /** Pages that did not match the descriptor in a row across the run, this one included.
   * @default 1 */
  readonly consecutiveDrifts?: number;
}

export type RetryAction =
  /** Try the job again after `delayMs` (its backoff; it holds no tab or slot meanwhile). */
  | 'retry'
  /** Pause the whole profile for `delayMs`, then try the job again. */
  | 'pause-profile'
  /** Headful: wait for the person at the window, then try again. */
  | 'wait-for-human'
  /** The job ends `failed(kind)`. */
  | 'fail'
  /** The run stops (headless login wall, a fatal error); state is saved. */
  | 'stop-run';

export interface RetryDecision {
  readonly action: RetryAction;
  readonly delayMs: number;
  /** Whether this failure used up one of the job's retries. */
  readonly countsAsAttempt: boolean;
  /** Whether the conversation the failure was read in is spent: the next attempt sends afresh. */
  readonly forgetConversation: boolean;
}

/** A usage cap whose reset time cannot be read waits this long before trying again. */
export const QUOTA_FALLBACK_MS = 60 * 60_000;
const DEFAULT_RATE_LIMIT_PAUSE_MS = 5 * 60_000;

export function checkRetryPolicyOptions(options: RetryPolicyOptions): void {
  if (!Number.isInteger(options.retries) || options.retries < 0) throw new TypeError('Expected `retries` to be a non-negative integer.');
  for (const key of ['backoffBaseMs', 'quotaMarginMs', 'rateLimitPauseMs'] as const) {
    const value = options[key];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new TypeError(`Expected \`${key}\` to be a non-negative number.`);
  }
}

/**
 * Counted failures: the job's own bad luck, retried with backoff up to `retries` times. An upload
 * that failed sent nothing (no prompt spent), but a page that keeps refusing files must not be fed
 * them forever, so it counts like any other hiccup.
 */
const COUNTED: ReadonlySet<FailureKind> = new Set(['transient', 'timeout', 'disconnect', 'verify', 'no-image', 'upload']);

export function decideRetry(failure: FailureFacts, history: JobHistory, options: RetryPolicyOptions): RetryDecision {
  const random = options.random ?? Math.random;
  switch (failure.kind) {
    case 'policy':
      // Never sent twice: a second refusal is a second strike on the account.
      return { action: 'fail', delayMs: 0, countsAsAttempt: true, forgetConversation: true };
    case 'login':
    case 'challenge':
      return options.headless
        ? { action: 'stop-run', delayMs: 0, countsAsAttempt: false, forgetConversation: false }
        : { action: 'wait-for-human', delayMs: 0, countsAsAttempt: false, forgetConversation: false };
    case 'cooldown': {
      // cooldownPauseMs gives the 5–10 min default scale; --rate-limit-pause rescales it.
      const delayMs = cooldownPauseMs(Math.max(1, history.consecutiveCooldowns), random) * (options.rateLimitPauseMs / DEFAULT_RATE_LIMIT_PAUSE_MS);
      return { action: 'pause-profile', delayMs: Math.round(delayMs), countsAsAttempt: false, forgetConversation: true };
    }
    case 'quota':
      return {
        action: 'pause-profile',
        delayMs: (failure.resetInMs ?? QUOTA_FALLBACK_MS) + options.quotaMarginMs,
        countsAsAttempt: false,
        forgetConversation: true,
      };
    case 'attachment':
      // A reference that is too large, one too many, or changed since load stays so on every try:
      // the job fails (nothing was sent, so no prompt is spent) and the message says which file.
      return { action: 'fail', delayMs: 0, countsAsAttempt: false, forgetConversation: false };
    case 'fatal':
      return { action: 'stop-run', delayMs: 0, countsAsAttempt: false, forgetConversation: false };
    case 'drift':
      // A page that no longer matches the descriptor fails every job the same way: stop and say so.
      // Once is a slow page as likely as a changed one, so the first is tried again.
      if ((history.consecutiveDrifts ?? 1) >= 2) return { action: 'stop-run', delayMs: 0, countsAsAttempt: false, forgetConversation: false };
      return { action: 'retry', delayMs: backoffMs(1, { baseMs: options.backoffBaseMs, random }), countsAsAttempt: false, forgetConversation: false };
    default: {
      if (!COUNTED.has(failure.kind)) throw new TypeError(`Unknown failure kind \`${failure.kind}\`.`);
      // A text answer or a stale image ends that conversation; a timeout or a lost page may still
      // hold a late image there, so the next attempt looks first.
      const forgetConversation = failure.kind === 'no-image' || failure.answerSpent === true;
      // An answer in words is retried once, asking the other way; twice means the page will not draw it.
      const exhausted = history.failures > options.retries || (failure.kind === 'no-image' && (history.sameKind ?? history.failures) > 1);
      if (exhausted) return { action: 'fail', delayMs: 0, countsAsAttempt: true, forgetConversation };
      return {
        action: 'retry',
        delayMs: backoffMs(Math.max(1, history.failures), { baseMs: options.backoffBaseMs, random }),
        countsAsAttempt: true,
        forgetConversation,
      };
    }
  }
}
