// Runs jobs through the profile's gate and decides, by failure class, what happens next (DESIGN §5):
// retry with backoff, pause the profile, fail the job, or stop for a human.
import { setMaxListeners } from 'node:events';
import type { BrowserContext } from 'playwright';
import type { Hub } from '../hub/hub.js';
import {
  ChallengeError,
  CooldownError,
  DisconnectError,
  LoginRequiredError,
  PolicyError,
  QuotaError,
  SemantestError,
  TransientError,
  serializeError,
} from '../protocol/errors.js';
import { isConversationUrl, type ProviderDescriptor } from '../protocol/provider.js';
import type { Job, PromptBook } from '../prompts/types.js';
import type { RunEvents } from '../report/events.js';
import { backoffMs, cooldownPauseMs } from '../schedule/backoff.js';
import type { Gate, Slot } from '../schedule/gate.js';
import type { JobStore } from '../store/index.js';
import { crashPoint } from './crash.js';
import { EvidenceKeeper } from './evidence.js';
import { runAttempt, type AttemptContext, type JobMemory, type Tab } from './attempt.js';

export interface JobRunnerOptions {
  readonly context: BrowserContext;
  readonly hub: Hub;
  readonly store: JobStore;
  readonly provider: ProviderDescriptor;
  readonly gate: Gate;
  readonly tabs: Tab[];
  readonly book: PromptBook;
  readonly bookDir: string;
  readonly profile: string;
  readonly headless: boolean;
  readonly retries: number;
  readonly backoffBaseMs: number;
  readonly quotaMarginMs: number;
  /** First pause after a "slow down"; later ones grow (DESIGN §5: 5–10 min). */
  readonly rateLimitPauseMs: number;
  readonly generationTimeoutMs: number;
  /** The extension's floor between two prompts leaving the browser (the gate's minimum gap). */
  readonly sendGapMs: number;
  readonly events: RunEvents;
  readonly interrupt: { soft: AbortSignal; hard: AbortSignal };
}

export interface JobsOutcome {
  verified: number;
  failed: Array<{ id: string; kind: string; message: string }>;
  attempts: number;
  stopReason?: 'interrupted' | 'human-needed' | 'browser-lost';
  humanNeeded?: { kind: string; message: string };
}

/** A usage cap whose reset time cannot be read waits this long before trying again. */
const QUOTA_FALLBACK_MS = 60 * 60_000;
const DEFAULT_RATE_LIMIT_PAUSE_MS = 5 * 60_000;

export async function runJobs(opts: JobRunnerOptions, jobs: Job[]): Promise<JobsOutcome> {
  const outcome: JobsOutcome = { verified: 0, failed: [], attempts: 0 };
  // Stopping for a human aborts every waiting job at once; in-flight ones finish or fail.
  const stop = new AbortController();
  const stopSignal = AbortSignal.any([stop.signal, opts.interrupt.soft]);
  // The browser went away (crash, killed, window closed): every attempt in it is void, not failed;
  // the caller relaunches and runs what is left.
  const onBrowserGone = () => {
    if (opts.interrupt.hard.aborted || outcome.stopReason) return;
    outcome.stopReason = 'browser-lost';
    stop.abort();
  };
  opts.context.on('close', onBrowserGone);
  // Every waiting job listens on this one signal; thousands of listeners are expected.
  setMaxListeners(0, stopSignal);
  const tabs = new TabPool(opts.tabs);
  const verifiedHashes = new Map<string, string>();
  const usedFileIds = new Set<string>();
  for (const record of Object.values(opts.store.state().jobs)) {
    if (record.state === 'verified' && record.sha256) verifiedHashes.set(record.sha256, record.id);
    if (record.state === 'verified' && record.fileId) usedFileIds.add(record.fileId);
  }
  const attemptContext: AttemptContext = {
    context: opts.context,
    hub: opts.hub,
    store: opts.store,
    provider: opts.provider,
    bookDir: opts.bookDir,
    book: { book: opts.book.book, style: opts.book.style, provider: opts.book.provider },
    profile: opts.profile,
    generationTimeoutMs: opts.generationTimeoutMs,
    sendGapMs: opts.sendGapMs,
    verifiedHashes,
    usedFileIds,
  };
  const evidence = new EvidenceKeeper(opts.context, opts.bookDir);
  await evidence.start();
  const firstStart = Date.now();
  let done = 0;
  let consecutiveCooldowns = 0;

  const onProgress = (message: { jobId: string; phase: string; conversationUrl?: string }) => {
    opts.events.emitEvent({ type: 'job-progress', id: message.jobId, phase: message.phase, conversationUrl: message.conversationUrl });
    if (message.phase === 'sent' && message.conversationUrl) {
      void opts.store
        .record({ t: 'job', id: message.jobId, state: 'submitted', conversationUrl: message.conversationUrl })
        .then(() => crashPoint('after-submit'), () => undefined);
    }
  };
  opts.hub.on('progress', onProgress);

  const finish = () => {
    done += 1;
    const remaining = jobs.length - done;
    return { done, toRun: jobs.length, etaMs: remaining > 0 ? ((Date.now() - firstStart) / done) * remaining : 0 };
  };

  async function runOne(job: Job): Promise<void> {
    let attempt = opts.store.get(job.id)?.attempts ?? 0;
    let failures = 0;
    let notBefore: number | undefined;
    const memory: JobMemory = { verifyFailures: new Map(), rejectedFileIds: new Set() };
    for (;;) {
      if (stopSignal.aborted) return;
      let tab: Tab;
      try {
        // A job waiting out a backoff holds no tab and no turn.
        if (notBefore !== undefined) await waitUntil(notBefore, stopSignal);
        tab = await tabs.acquire(stopSignal);
      } catch {
        return;
      }
      let slot: Slot | undefined;
      const pace = async () => {
        slot = await opts.gate.acquire({ signal: stopSignal });
        await opts.store.record({ t: 'pacing', pacing: opts.gate.state() });
        opts.events.emitEvent({ type: 'job-progress', id: job.id, phase: 'paced' });
      };
      attempt += 1;
      outcome.attempts += 1;
      const startedAt = Date.now();
      try {
        // A conversation from a finished image or from an older prompt is not this prompt's: forget it.
        const before = opts.store.get(job.id);
        const foreign = !!before?.conversationUrl && (before.state === 'verified' || (!!before.promptHash && before.promptHash !== job.promptHash));
        await opts.store.record({ t: 'job', id: job.id, state: 'started', attempt, promptHash: job.promptHash, ...(foreign ? { conversationUrl: '' } : {}) });
        crashPoint('after-started');
        opts.events.emitEvent({ type: 'job-start', id: job.id, attempt });
        await evidence.beginAttempt(job.id, attempt);
        const result = await runAttempt(attemptContext, tab, job, attempt, startedAt, memory, pace);
        await evidence.endAttempt(job.id, attempt, false);
        consecutiveCooldowns = 0;
        outcome.verified += 1;
        opts.events.emitEvent({ type: 'job-verified', id: job.id, path: result.file, attempt, ms: Date.now() - startedAt, bytes: result.bytes, ...finish() });
        return;
      } catch (raw) {
        if (opts.interrupt.hard.aborted || outcome.stopReason === 'browser-lost') return;
        if (stopSignal.aborted && slot === undefined) {
          // Stopped while waiting for its turn: nothing was sent, so nothing failed.
          await evidence.endAttempt(job.id, attempt, false).catch(() => undefined);
          return;
        }
        const error = raw instanceof SemantestError ? raw : classifyUnknown(raw);
        await noteConversation(job, tab);
        const kept = [await evidence.endAttempt(job.id, attempt, true), ...(await evidence.firstOfKind(error.kind, job.id, tab.page))];
        const decision = await decide(job, tab, error, ++failures, kept.filter((f): f is string => f !== undefined));
        if (decision === 'stop') return;
        if (decision === 'again') failures -= 1;
        notBefore = decision === 'again' ? undefined : decision;
      } finally {
        tabs.release(tab);
        (slot as Slot | undefined)?.release();
      }
    }
  }

  /**
   * The page may have gone away (reload, crash) before the extension reported the conversation;
   * the tab was on a fresh chat when this attempt began, so a conversation URL now is this job's,
   * and the next attempt looks there for a late image before it sends the prompt again.
   */
  async function noteConversation(job: Job, tab: Tab): Promise<void> {
    const url = tab.page.url();
    if (!isConversationUrl(url, opts.provider) || opts.store.get(job.id)?.conversationUrl === url) return;
    await opts.store.record({ t: 'job', id: job.id, state: 'submitted', conversationUrl: url }).catch(() => undefined);
  }

  /** Returns when to try again (epoch ms), 'again' (not the job's fault), or 'stop'. */
  async function decide(job: Job, tab: Tab, error: SemantestError, failures: number, kept: string[]): Promise<number | 'again' | 'stop'> {
    const record = (kind: string) =>
      opts.store.record({ t: 'job', id: job.id, state: 'failed', failure: { kind, message: error.message, ...(kept.length ? { evidence: kept } : {}) } });
    if (error instanceof PolicyError) {
      await record('policy');
      outcome.failed.push({ id: job.id, kind: 'policy', message: error.message });
      opts.events.emitEvent({ type: 'job-failed', id: job.id, kind: 'policy', message: error.message, ...finish() });
      return 'stop';
    }
    if (error instanceof LoginRequiredError || error instanceof ChallengeError) {
      await record(error.kind);
      if (opts.headless) {
        outcome.stopReason = 'human-needed';
        outcome.humanNeeded ??= { kind: error.kind, message: error.message };
        opts.events.emitEvent({ type: 'human-needed', kind: error.kind, message: error.message, waiting: false });
        stop.abort();
        return 'stop';
      }
      opts.events.emitEvent({ type: 'human-needed', kind: error.kind, message: `${error.message} — the browser window is waiting for you; the run goes on by itself once the site is back`, waiting: true });
      await waitForHuman(tab, opts.provider, opts.interrupt.soft);
      return 'again';
    }
    if (error instanceof CooldownError) {
      consecutiveCooldowns += 1;
      // cooldownPauseMs gives the 5–10 min default scale; --rate-limit-pause rescales it.
      const until = Date.now() + cooldownPauseMs(consecutiveCooldowns) * (opts.rateLimitPauseMs / DEFAULT_RATE_LIMIT_PAUSE_MS);
      await pause(until, `the site asked to slow down: "${error.message}"`);
      return 'again';
    }
    if (error instanceof QuotaError) {
      const until = Date.now() + (error.resetInMs ?? QUOTA_FALLBACK_MS) + opts.quotaMarginMs;
      await pause(until, `usage cap reached: "${error.message}"`);
      return 'again';
    }
    await record(error.kind);
    if (failures > opts.retries) {
      outcome.failed.push({ id: job.id, kind: error.kind, message: error.message });
      opts.events.emitEvent({ type: 'job-failed', id: job.id, kind: error.kind, message: error.message, ...finish() });
      return 'stop';
    }
    if (error instanceof DisconnectError && !opts.hub.connected) {
      // The extension reconnects by itself after a hiccup; if the whole browser is gone, the stop
      // signal ends this wait and the run relaunches it.
      await Promise.race([opts.hub.waitForExtension(60_000).catch(() => undefined), waitUntil(Infinity, stopSignal).catch(() => undefined)]);
    }
    const at = Date.now() + backoffMs(failures, { baseMs: opts.backoffBaseMs });
    opts.events.emitEvent({ type: 'job-retry', id: job.id, kind: error.kind, message: error.message, attempt: failures, notBefore: at });
    return at;
  }

  async function pause(until: number, reason: string): Promise<void> {
    opts.gate.pauseUntil(until, reason);
    await opts.store.record({ t: 'pacing', pacing: opts.gate.state() });
    opts.events.emitEvent({ type: 'pause', until, reason });
  }

  try {
    await Promise.all(jobs.map((job) => runOne(job)));
  } finally {
    opts.context.off('close', onBrowserGone);
    opts.hub.off('progress', onProgress);
    await evidence.stop();
  }
  if (!outcome.stopReason && opts.interrupt.soft.aborted) outcome.stopReason = 'interrupted';
  return outcome;
}

/** Anything untyped (a Playwright or file-system error) is retried; a closed browser is a disconnect. */
function classifyUnknown(error: unknown): SemantestError {
  const { message } = serializeError(error);
  if (/Target (page, context or browser )?(has been )?closed|browser has been closed/i.test(message)) return new DisconnectError(message);
  return new TransientError(message);
}

/** Headful: bring the tab forward and wait, without a deadline, until the composer is back. */
async function waitForHuman(tab: Tab, provider: ProviderDescriptor, signal: AbortSignal): Promise<void> {
  await tab.page.bringToFront().catch(() => undefined);
  const composer = provider.selectors.composer.join(', ');
  while (!signal.aborted) {
    try {
      await tab.page.waitForSelector(composer, { timeout: 5_000 });
      return;
    } catch {
      if (tab.page.isClosed()) throw new DisconnectError('the tab was closed while waiting for you');
    }
  }
}

/** Resolves at `at` (epoch ms), or rejects when `signal` aborts first. */
function waitUntil(at: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = Number.isFinite(at) ? setTimeout(done, Math.max(0, at - Date.now())) : undefined;
    function done() {
      signal.removeEventListener('abort', abort);
      resolve();
    }
    function abort() {
      clearTimeout(timer);
      reject(signal.reason);
    }
    signal.addEventListener('abort', abort, { once: true });
  });
}

/** The run's tabs, one per job in flight, handed out first come first served. */
class TabPool {
  readonly #free: Tab[];
  readonly #waiting: Array<{ resolve: (tab: Tab) => void; reject: (reason: unknown) => void; signal: AbortSignal; abort: () => void }> = [];
  constructor(tabs: Tab[]) {
    this.#free = [...tabs];
  }

  acquire(signal: AbortSignal): Promise<Tab> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const tab = this.#free.pop();
    if (tab) return Promise.resolve(tab);
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve,
        reject,
        signal,
        abort: () => {
          this.#waiting.splice(this.#waiting.indexOf(waiter), 1);
          reject(signal.reason);
        },
      };
      signal.addEventListener('abort', waiter.abort, { once: true });
      this.#waiting.push(waiter);
    });
  }

  release(tab: Tab): void {
    const next = this.#waiting.shift();
    if (!next) {
      this.#free.push(tab);
      return;
    }
    next.signal.removeEventListener('abort', next.abort);
    next.resolve(tab);
  }
}
