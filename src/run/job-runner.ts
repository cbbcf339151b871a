// Runs a browser's worth of jobs (docs/ARCHITECTURE.md "The path of one job"). For each job, in a
// loop: wait out its backoff, take a gate slot (the one limit on concurrency and the pacing), take
// the free tab that slot guarantees, start the attempt through the job's lifecycle, run the attempt
// pipeline, and on a failure ask the retry policy what to do, then do it.
import { setMaxListeners } from 'node:events';
import type { BrowserContext } from 'playwright';
import sharp from 'sharp';
import type { Hub } from '../hub/hub.js';
import { DisconnectError, SemantestError, StaleImageError, TransientError, serializeError } from '../protocol/errors.js';
import { isConversationUrl, type ProviderDescriptor } from '../protocol/provider.js';
import type { Job, PromptBook } from '../prompts/types.js';
import type { RunEvents } from '../events.js';
import type { Gate, Slot } from '../schedule/gate.js';
import type { JobStore } from '../store/index.js';
import { runAttempt, type AttemptDeps, type JobMemory, type Tab } from './attempt.js';
import { EvidenceKeeper } from './evidence.js';
import type { RunHooks } from './hooks.js';
import { ImageClaims } from './image-claims.js';
import { JobLifecycle } from './job-lifecycle.js';
import { checkRetryPolicyOptions, decideRetry, type RetryDecision, type RetryPolicyOptions } from './retry-policy.js';
import type { RunControl } from './run-control.js';
import { hubTabOpener, TabPool } from './tab-pool.js';

export interface JobRunnerOptions extends RetryPolicyOptions {
  readonly context: BrowserContext;
  readonly hub: Hub;
  readonly store: JobStore;
  readonly provider: ProviderDescriptor;
  /** Its concurrency is the number of tabs: the one limit on jobs in flight. */
  readonly gate: Gate;
  readonly tabs: Tab[];
  readonly book: PromptBook;
  readonly bookDir: string;
  readonly profile: string;
  readonly generationTimeoutMs: number;
  /** The extension's floor between two prompts leaving the browser (the gate's minimum gap). */
  readonly sendGapMs: number;
  readonly events: RunEvents;
  readonly interrupt: { soft: AbortSignal; hard: AbortSignal };
  readonly hooks?: RunHooks;
  /** A person's pause, resume and requeues (the dashboard). */
  readonly control?: RunControl;
  /** `--trace`: keep a Playwright trace of each failed attempt (it holds the session cookie). */
  readonly trace?: boolean;
  /** Replace each tab by a fresh one after this many attempts in it (0: never); see tab-pool.ts. */
  readonly recycleTabsEvery?: number;
}

/**
 * Tabs are replaced after this many attempts each unless the run says otherwise. Measured with
 * bench/soak.ts (docs/ARCHITECTURE.md "Long runs"): a tab's renderer gains 2–4 MB per chat that it
 * frees only when it is idle enough to collect, so at 50 it still reached 250 MB on a busy run; at
 * 10 it stays near a fresh tab's (about 110 MB), for one more page load per 10 jobs (each loads one).
 */
export const DEFAULT_RECYCLE_TABS_EVERY = 10;

export interface JobsOutcome {
  verified: number;
  failed: Array<{ id: string; kind: string; message: string }>;
  attempts: number;
  stopReason?: 'interrupted' | 'human-needed' | 'browser-lost' | 'fatal';
  humanNeeded?: { kind: string; message: string };
  /** A fatal error (the journal cannot be written, say) that stopped the run. */
  fatal?: SemantestError;
  /** Roles the page matched only by a fallback selector: role → the highest index seen. */
  drift: Record<string, number>;
}

export function runJobs(opts: JobRunnerOptions, jobs: Job[]): Promise<JobsOutcome> {
  return new JobRunner(opts).run(jobs);
}

class JobRunner {
  readonly #opts: JobRunnerOptions;
  readonly #outcome: JobsOutcome = { verified: 0, failed: [], attempts: 0, drift: {} };
  /** Stopping for a human, a lost browser or a fatal error aborts every waiting job at once. */
  readonly #stop = new AbortController();
  readonly #stopSignal: AbortSignal;
  readonly #tabs: TabPool;
  readonly #deps: AttemptDeps;
  readonly #evidence: EvidenceKeeper;
  /** The lifecycle of each job with an attempt under way, for the page's events about it. */
  readonly #active = new Map<string, JobLifecycle>();
  /** Jobs of this run with their loop going (a requeue of one of these is not started twice). */
  readonly #running = new Map<string, Promise<void>>();
  #done = 0;
  #toRun = 0;
  #firstStart = Date.now();
  #consecutiveCooldowns = 0;
  #consecutiveDrifts = 0;

  constructor(opts: JobRunnerOptions) {
    checkRetryPolicyOptions(opts);
    this.#opts = opts;
    this.#stopSignal = AbortSignal.any([this.#stop.signal, opts.interrupt.soft]);
    // Every waiting job listens on this one signal; thousands of listeners are expected.
    setMaxListeners(0, this.#stopSignal);
    // Every image is decoded once (verification, a thumbnail): sharp's operation cache (50 MB by
    // default) only holds pictures that never come back, and on a long run it kept the runner's
    // memory higher (docs/ARCHITECTURE.md "Long runs").
    sharp.cache(false);
    this.#tabs = new TabPool(opts.tabs, {
      recycleEvery: opts.recycleTabsEvery ?? DEFAULT_RECYCLE_TABS_EVERY,
      opener: hubTabOpener(opts.context, opts.hub, opts.provider.baseUrl),
      onRecycleError: (error) => opts.events.emitEvent({ type: 'note', message: `could not open a fresh tab to replace a used one (${serializeError(error).message}); the used tab carries on` }),
    });
    const records = Object.values(opts.store.state().jobs);
    this.#deps = {
      context: opts.context,
      hub: opts.hub,
      provider: opts.provider,
      bookDir: opts.bookDir,
      book: { book: opts.book.book, style: opts.book.style, provider: opts.book.provider },
      profile: opts.profile,
      generationTimeoutMs: opts.generationTimeoutMs,
      sendGapMs: opts.sendGapMs,
      claims: new ImageClaims(records),
      hooks: opts.hooks ?? {},
    };
    this.#evidence = new EvidenceKeeper(opts.context, opts.bookDir, { trace: opts.trace, secrets: () => [opts.hub.config().token] });
  }

  async run(jobs: Job[]): Promise<JobsOutcome> {
    const { context, hub } = this.#opts;
    this.#toRun = jobs.length;
    this.#firstStart = Date.now();
    // The browser went away (crash, killed, window closed): every attempt in it is void, not failed;
    // the caller relaunches and runs what is left.
    const onBrowserGone = () => this.#halt('browser-lost');
    const onProgress = (message: { jobId: string; phase: string; conversationUrl?: string }) => this.#onProgress(message);
    const byId = new Map(this.#opts.book.jobs.map((job) => [job.id, job]));
    const onRequeue = (id: string) => {
      const job = byId.get(id);
      if (!job || this.#running.has(id) || this.#stopSignal.aborted) return;
      // A rejected image may never come back as this panel's new one.
      if (this.#opts.store.get(id)?.state === 'rejected') this.#deps.claims.retire(id);
      this.#outcome.failed = this.#outcome.failed.filter((f) => f.id !== id);
      this.#toRun += 1;
      this.#start(job);
    };
    context.on('close', onBrowserGone);
    hub.on('progress', onProgress);
    this.#opts.control?.on('requeue', onRequeue);
    await this.#evidence.start();
    try {
      for (const job of jobs) this.#start(job);
      // Requeued jobs join while others run; the run ends when none is left.
      while (this.#running.size > 0) await Promise.all([...this.#running.values()]);
    } finally {
      context.off('close', onBrowserGone);
      hub.off('progress', onProgress);
      this.#opts.control?.off('requeue', onRequeue);
      await this.#evidence.stop();
    }
    const recycled = this.#tabs.recycled;
    if (recycled > 0) this.#opts.events.emitEvent({ type: 'note', message: `replaced ${recycled} used tab${recycled === 1 ? '' : 's'} by fresh ones (every ${this.#opts.recycleTabsEvery ?? DEFAULT_RECYCLE_TABS_EVERY} jobs in a tab) to keep the browser's memory flat` });
    if (!this.#outcome.stopReason && this.#opts.interrupt.soft.aborted) this.#outcome.stopReason = 'interrupted';
    return this.#outcome;
  }

  #start(job: Job): void {
    const task = this.#runJob(job).finally(() => this.#running.delete(job.id));
    this.#running.set(job.id, task);
  }

  #halt(reason: 'browser-lost' | 'human-needed' | 'fatal'): void {
    if (this.#opts.interrupt.hard.aborted || this.#outcome.stopReason) return;
    this.#outcome.stopReason = reason;
    this.#stop.abort();
  }

  /** The page moved to the conversation of a job in flight: its lifecycle journals it (once). */
  #onProgress(message: { jobId: string; phase: string; conversationUrl?: string }): void {
    this.#opts.events.emitEvent({ type: 'job-progress', id: message.jobId, phase: message.phase, conversationUrl: message.conversationUrl });
    const job = this.#active.get(message.jobId);
    if (!job || !message.conversationUrl || (message.phase !== 'conversation' && message.phase !== 'sent')) return;
    if (!isConversationUrl(message.conversationUrl, this.#opts.provider)) return;
    // Queued in the lifecycle; the attempt awaits it (and any write error) before its next step.
    job.submitted(message.conversationUrl).catch(() => undefined);
  }

  async #runJob(job: Job): Promise<void> {
    const lifecycle = new JobLifecycle(job, this.#opts.store, this.#opts.events, this.#deps.hooks);
    const memory: JobMemory = { verifyFailures: new Map(), rejectedFileIds: new Set(), imageIntent: 'tool-or-prefix' };
    const failuresByKind = new Map<string, number>();
    let failures = 0;
    let notBefore: number | undefined;
    for (;;) {
      let slot: Slot;
      try {
        // Paused by a person: no new prompt starts until they resume (the ones in flight finish).
        await this.#opts.control?.whenRunning(this.#stopSignal);
        // A job waiting out a backoff holds no tab and no slot. One tried before goes ahead of fresh
        // ones, so a book fills in order instead of leaving its retries to the end.
        slot = await this.#opts.gate.acquire({ signal: this.#stopSignal, priority: lifecycle.attempt, ...(notBefore !== undefined ? { notBefore } : {}) });
      } catch {
        return; // stopped while waiting: nothing was sent, so nothing failed
      }
      if (this.#stopSignal.aborted) {
        // The run began stopping while this job waited for its turn: it starts nothing.
        slot.release();
        return;
      }
      if (this.#opts.control?.paused) {
        // Paused while it waited for its turn: it gives the turn back and waits for the resume.
        slot.release();
        continue;
      }
      const tab = this.#tabs.take();
      try {
        try {
          await this.#opts.store.record({ t: 'pacing', pacing: this.#opts.gate.state() });
        } catch (error) {
          this.#fatal(error);
          return;
        }
        const next = await this.#attempt(job, lifecycle, memory, tab, failures + 1, failuresByKind);
        if (next === 'done') return;
        if (next.countsAsAttempt) failures += 1;
        notBefore = next.notBefore;
      } finally {
        // Still holding the slot: a tab due for replacement is replaced before anyone can take it.
        await this.#tabs.give(tab, !this.#stopSignal.aborted && !this.#opts.interrupt.hard.aborted);
        slot.release();
      }
    }
  }

  /** One attempt and what follows it: 'done', or when and how to go again. */
  async #attempt(job: Job, lifecycle: JobLifecycle, memory: JobMemory, tab: Tab, failuresIfCounted: number, failuresByKind: Map<string, number>): Promise<'done' | { countsAsAttempt: boolean; notBefore?: number }> {
    const { events } = this.#opts;
    const startedAt = Date.now();
    let attempt: number;
    try {
      attempt = await lifecycle.start();
    } catch (error) {
      return this.#fatal(error);
    }
    this.#outcome.attempts += 1;
    this.#active.set(job.id, lifecycle);
    events.emitEvent({ type: 'job-start', id: job.id, attempt });
    await this.#evidence.beginAttempt(job.id, attempt);
    try {
      const result = await runAttempt(this.#deps, tab, lifecycle, memory, startedAt);
      await this.#evidence.endAttempt(job.id, attempt, false);
      this.#consecutiveCooldowns = 0;
      this.#consecutiveDrifts = 0;
      this.#outcome.verified += 1;
      for (const [role, index] of Object.entries(result.matched)) this.#outcome.drift[role] = Math.max(this.#outcome.drift[role] ?? 0, index);
      events.emitEvent({ type: 'job-verified', id: job.id, path: result.file, attempt, ms: Date.now() - startedAt, bytes: result.bytes, ...this.#finish() });
      return 'done';
    } catch (raw) {
      // A hard stop, or a run already stopping (lost browser, fatal error, a human needed), voids the
      // attempt: what failed was the stop tearing it down, not the job. The journal keeps it as
      // started/submitted, and the next run (or the relaunched browser) looks in its conversation first.
      if (this.#opts.interrupt.hard.aborted || this.#outcome.stopReason !== undefined) return 'done';
      const error = raw instanceof SemantestError ? raw : classifyUnknown(raw);
      if (error.kind === 'cooldown') this.#consecutiveCooldowns += 1;
      if (error.kind === 'drift') this.#consecutiveDrifts += 1;
      failuresByKind.set(error.kind, (failuresByKind.get(error.kind) ?? 0) + 1);
      // An answer in words: the next send asks with the image tool and the prefix both.
      if (error.kind === 'no-image') memory.imageIntent = 'tool-and-prefix';
      const decision = decideRetry(
        { kind: error.kind, resetInMs: 'resetInMs' in error ? (error.resetInMs as number | undefined) : undefined, answerSpent: error instanceof StaleImageError },
        { failures: failuresIfCounted, sameKind: failuresByKind.get(error.kind)!, consecutiveCooldowns: this.#consecutiveCooldowns, consecutiveDrifts: this.#consecutiveDrifts },
        this.#opts,
      );
      const evidence = [await this.#evidence.endAttempt(job.id, attempt, true), ...(await this.#evidence.firstOfKind(error.kind, job.id, tab.page, decision.action === 'fail'))];
      try {
        await lifecycle.failed(error.kind, error.message, {
          final: decision.action === 'fail',
          forgetConversation: decision.forgetConversation,
          evidence: evidence.filter((f): f is string => f !== undefined),
        });
      } catch (writeError) {
        return this.#fatal(writeError);
      }
      return this.#act(job, tab, error, decision, failuresIfCounted);
    } finally {
      this.#active.delete(job.id);
    }
  }

  async #act(job: Job, tab: Tab, error: SemantestError, decision: RetryDecision, failures: number): Promise<'done' | { countsAsAttempt: boolean; notBefore?: number }> {
    const { events, gate, store } = this.#opts;
    switch (decision.action) {
      case 'fail':
        this.#outcome.failed.push({ id: job.id, kind: error.kind, message: error.message });
        events.emitEvent({ type: 'job-failed', id: job.id, kind: error.kind, message: error.message, ...this.#finish() });
        return 'done';
      case 'stop-run':
        if (error.kind === 'fatal' || error.kind === 'drift') return this.#fatal(error);
        this.#outcome.humanNeeded ??= { kind: error.kind, message: error.message };
        events.emitEvent({ type: 'human-needed', kind: error.kind, message: error.message, waiting: false });
        this.#halt('human-needed');
        return 'done';
      case 'wait-for-human':
        events.emitEvent({ type: 'human-needed', kind: error.kind, message: `${error.message} — the browser window is waiting for you; the run goes on by itself once the site is back`, waiting: true });
        // A tab closed meanwhile is the browser going away: the relaunch takes over.
        await waitForHuman(tab, this.#opts.provider, this.#opts.interrupt.soft).catch(() => undefined);
        return { countsAsAttempt: false };
      case 'pause-profile': {
        const until = Date.now() + decision.delayMs;
        const reason = error.kind === 'quota' ? `usage cap reached: "${error.message}"` : `the site asked to slow down: "${error.message}"`;
        gate.pauseUntil(until, reason);
        try {
          await store.record({ t: 'pacing', pacing: gate.state() });
        } catch (writeError) {
          return this.#fatal(writeError);
        }
        events.emitEvent({ type: 'pause', until, reason });
        return { countsAsAttempt: false };
      }
      case 'retry': {
        if (error instanceof DisconnectError && !this.#opts.hub.connected) {
          // The extension reconnects by itself after a hiccup; if the whole browser is gone, the stop
          // signal ends this wait and the run relaunches it.
          await Promise.race([this.#opts.hub.waitForExtension(60_000).catch(() => undefined), aborted(this.#stopSignal)]);
        }
        const notBefore = Date.now() + decision.delayMs;
        events.emitEvent({ type: 'job-retry', id: job.id, kind: error.kind, message: error.message, attempt: failures, notBefore });
        return { countsAsAttempt: decision.countsAsAttempt, notBefore };
      }
    }
  }

  #fatal(error: unknown): 'done' {
    this.#outcome.fatal ??= error instanceof SemantestError ? error : new TransientError(serializeError(error).message);
    this.#halt('fatal');
    return 'done';
  }

  #finish() {
    this.#done += 1;
    const remaining = this.#toRun - this.#done;
    return { done: this.#done, toRun: this.#toRun, etaMs: remaining > 0 ? ((Date.now() - this.#firstStart) / this.#done) * remaining : 0 };
  }
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

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
