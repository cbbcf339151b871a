// Hands the run's jobs to its profiles (docs/ARCHITECTURE.md §10 "Book run, profile sessions,
// dispatcher"). Each profile has one lane per tab; a lane waits until the job source has a job due
// for its profile, takes a slot from the profile's gate (its pacing and pause), takes the job (the
// profile whose gate opens first gets it: the one that can start it soonest), runs one attempt
// through the job's lifecycle, asks the retry policy what the failure means and acts on it: the
// job goes back to the source (pinned to this profile while its conversation is worth a look), the
// profile pauses, rests or retires, or the run stops.
import { setMaxListeners } from 'node:events';
import { DisconnectError, SemantestError, StaleImageError, TransientError, serializeError } from '../protocol/errors.js';
import { isConversationUrl, type ProviderDescriptor } from '../protocol/provider.js';
import type { Job, PromptBook } from '../prompts/types.js';
import type { RunEvents } from '../events.js';
import { countInWindow, estimateFinish, type ProfileNow, type QuotaWindow } from '../plan/estimate.js';
import type { Gate, Slot } from '../schedule/gate.js';
import type { JobStore } from '../store/index.js';
import { runAttempt as realRunAttempt, type AttemptDeps, type AttemptResult, type JobMemory, type Tab } from './attempt.js';
import type { RunHooks } from './hooks.js';
import type { ImageClaims } from './image-claims.js';
import { JobLifecycle } from './job-lifecycle.js';
import type { LocalJobSource, Ticket } from './job-source.js';
import { checkRetryPolicyOptions, decideRetry, type RetryDecision, type RetryPolicyOptions } from './retry-policy.js';
import type { RunControl } from './run-control.js';

/** What the dispatcher needs of a profile: the real one is ProfileSession, the unit tests fake it. */
export interface DispatchSession {
  readonly name: string;
  readonly gate: Gate;
  /** Jobs in flight at once on this profile (its tabs). */
  readonly lanes: number;
  setState(state: 'working' | 'paused' | 'resting' | 'waiting for a login' | 'retired' | 'finished', extra?: { until?: number; reason?: string }): void;
  /** Writes the profile's pacing (fsynced) before the start it announces. */
  savePacing(): Promise<void>;
  /** A live browser to run in: the current one, or one relaunch shared by all lanes; rejects when it may not. */
  ready(): Promise<SessionLease>;
  /** Whether the extension is connected (after a disconnect it reconnects by itself). */
  extensionConnected(): boolean;
  waitForExtension(ms: number): Promise<void>;
  /** Progress messages from the page (`phase` 'sent' when the send button was pressed). */
  onProgress(listener: (message: { jobId: string; phase: string; conversationUrl?: string }) => void): () => void;
}

/** One live browser of a session: its tabs, its evidence and what an attempt needs. */
export interface SessionLease {
  readonly deps: AttemptDeps;
  readonly lost: AbortSignal;
  takeTab(): Tab;
  giveTab(tab: Tab, mayRecycle: boolean): Promise<void>;
  beginEvidence(jobId: string, attempt: number): Promise<void>;
  endEvidence(jobId: string, attempt: number, failed: boolean): Promise<string | undefined>;
  firstOfKind(kind: string, jobId: string, tab: Tab, final: boolean): Promise<Array<string | undefined>>;
  waitForHuman(tab: Tab, signal: AbortSignal): Promise<void>;
}

export interface DispatcherOptions extends RetryPolicyOptions {
  readonly sessions: readonly DispatchSession[];
  readonly source: LocalJobSource;
  readonly store: JobStore;
  readonly provider: ProviderDescriptor;
  readonly book: PromptBook;
  readonly claims: ImageClaims;
  readonly events: RunEvents;
  readonly interrupt: { soft: AbortSignal; hard: AbortSignal };
  readonly hooks?: RunHooks;
  readonly control?: RunControl;
  /** A session relaunches a browser that went away at most this many times. */
  readonly maxRelaunches: number;
  /** How long a profile that keeps failing rests before it takes jobs again. */
  readonly restMs: number;
  /** The attempt pipeline (the unit tests pass a fake). @default runAttempt */
  readonly runAttempt?: (deps: AttemptDeps, tab: Tab, job: JobLifecycle, memory: JobMemory, startedAt: number) => Promise<AttemptResult>;
  /**
   * Awaited after the profile's pacing is saved and before the job starts (a fleet worker writes
   * which profile has the panel, so no other worker starts it meanwhile, src/fleet/link.ts).
   */
  readonly beforeStart?: (job: Job, profile: string) => Promise<void>;
}

export interface DispatchOutcome {
  stopReason?: 'interrupted' | 'human-needed' | 'fatal';
  humanNeeded?: { kind: string; message: string; profile: string };
  fatal?: SemantestError;
  /** Roles the page matched only by a fallback selector: role → the highest index seen. */
  drift: Record<string, number>;
  /** Attempts begun this run. */
  attempts: number;
  /** Per profile: prompts that reached the send button, images verified, how it ended. */
  profiles: Map<string, { promptsSent: number; verified: number; retired?: string }>;
}

/** Failures in a row (of these kinds) before a profile of several rests; after resting this often it retires. */
const STREAK_TO_REST = 3;
const RESTS_TO_RETIRE = 2;
/** Kinds that say something about the account or its browser rather than the panel. */
const HEALTH_KINDS = new Set(['transient', 'timeout', 'disconnect', 'no-image', 'account', 'verify', 'upload']);
const HUMAN_KINDS = new Set(['login', 'challenge']);

/** What one job remembers between its attempts in this run, whichever profile runs them. */
interface JobMind {
  lifecycle: JobLifecycle;
  readonly memory: JobMemory;
  failures: number;
  readonly failuresByKind: Map<string, number>;
}

/** What one profile's lanes share. */
interface Lanes {
  readonly session: DispatchSession;
  consecutiveCooldowns: number;
  consecutiveDrifts: number;
  failStreak: number;
  rests: number;
  /** Aborted when the profile retires: its lanes end. */
  readonly retired: AbortController;
}

type Next = { done: true } | { done: false; notBefore?: number; countsAsAttempt: boolean; pin: boolean };

export class Dispatcher {
  readonly #opts: DispatcherOptions;
  readonly #outcome: DispatchOutcome;
  /** Stopping for a human, or a fatal error, aborts every waiting lane at once. */
  readonly #stop = new AbortController();
  readonly #stopSignal: AbortSignal;
  readonly #minds = new Map<string, JobMind>();
  /** The lifecycle of each job with an attempt under way, for the page's events about it. */
  readonly #active = new Map<string, { mind: JobMind; profile: string; sent: boolean }>();
  readonly #lanes: Lanes[];
  readonly #attempt: NonNullable<DispatcherOptions['runAttempt']>;
  #done = 0;
  #toRun = 0;
  #firstStart = Date.now();
  /** Time from start to verified image, summed over this run's verified jobs (the estimate's imageMs). */
  #verifiedMs = 0;
  #verifiedCount = 0;
  /** Per profile, its quota window as the estimate counts it: when its first start in it was, and the starts since. */
  readonly #windows = new Map<string, QuotaWindow>();

  constructor(opts: DispatcherOptions) {
    checkRetryPolicyOptions(opts);
    if (opts.sessions.length === 0) throw new TypeError('a run needs at least one profile');
    this.#opts = opts;
    this.#attempt = opts.runAttempt ?? realRunAttempt;
    this.#stopSignal = AbortSignal.any([this.#stop.signal, opts.interrupt.soft]);
    // Every waiting lane listens on this one signal.
    setMaxListeners(0, this.#stopSignal);
    this.#lanes = opts.sessions.map((session) => ({ session, consecutiveCooldowns: 0, consecutiveDrifts: 0, failStreak: 0, rests: 0, retired: new AbortController() }));
    this.#outcome = { drift: {}, attempts: 0, profiles: new Map(opts.sessions.map((s) => [s.name, { promptsSent: 0, verified: 0 }])) };
  }

  /** Runs until the source is drained, the run is stopped, or no profile is left. */
  async run(): Promise<DispatchOutcome> {
    const { source, control } = this.#opts;
    this.#toRun = source.size;
    this.#firstStart = Date.now();
    const byId = new Map(this.#opts.book.jobs.map((job) => [job.id, job]));
    // A person's retry (the dashboard): one job in the one source, whichever profiles there are.
    const onRequeue = (id: string) => {
      const job = byId.get(id);
      if (!job || this.#stopSignal.aborted || source.has(id)) return;
      // A rejected image may never come back as this panel's new one.
      if (this.#opts.store.get(id)?.state === 'rejected') this.#opts.claims.retire(id);
      this.#minds.delete(id);
      if (source.add(job)) this.#toRun += 1;
    };
    const unsubscribe = this.#lanes.map((lanes) => lanes.session.onProgress((message) => this.#onProgress(lanes.session.name, message)));
    control?.on('requeue', onRequeue);
    try {
      const all = this.#lanes.flatMap((lanes) => Array.from({ length: lanes.session.lanes }, () => this.#lane(lanes)));
      await Promise.all(all);
    } finally {
      control?.off('requeue', onRequeue);
      for (const off of unsubscribe) off();
    }
    if (!this.#outcome.stopReason && this.#opts.interrupt.soft.aborted) this.#outcome.stopReason = 'interrupted';
    for (const lanes of this.#lanes) if (!lanes.retired.signal.aborted) lanes.session.setState('finished');
    return this.#outcome;
  }

  async #lane(lanes: Lanes): Promise<void> {
    const { source, control } = this.#opts;
    const { session } = lanes;
    const signal = AbortSignal.any([this.#stopSignal, lanes.retired.signal]);
    for (;;) {
      if (signal.aborted) return;
      let lease: SessionLease;
      let slot: Slot;
      try {
        // A browser that went away is relaunched before this lane asks for a start.
        lease = await this.#ready(lanes);
        // Paused by a person: no new prompt starts until they resume (the ones in flight finish).
        await control?.whenRunning(signal);
        if (!(await source.waitFor(session.name, signal))) return; // nothing left for anyone
        const granted = await this.#acquire(lanes, signal);
        if (!granted) continue; // the work it waited for went elsewhere: wait again
        slot = granted;
      } catch (error) {
        // A stop or a retirement ends the lane; anything else is a bug, and stops the run loudly.
        if (!signal.aborted) this.#fatal(error);
        return;
      }
      if (signal.aborted || control?.paused || lease.lost.aborted) {
        slot.cancel();
        continue;
      }
      const ticket = source.take(session.name);
      if (!ticket) {
        slot.cancel(); // another profile took it first: nothing was sent, so no start is counted
        continue;
      }
      const tab = lease.takeTab();
      try {
        try {
          await session.savePacing();
          await this.#opts.beforeStart?.(ticket.job, session.name);
        } catch (error) {
          source.putBack(ticket, { countsAsAttempt: false });
          // A stop while the fleet's Redis was away ends the wait; anything else stops the run loudly.
          if (!signal.aborted) this.#fatal(error);
          return;
        }
        const next = await this.#run(lanes, lease, tab, ticket);
        if (next.done) source.finish(ticket);
        else source.putBack(ticket, { notBefore: next.notBefore, countsAsAttempt: next.countsAsAttempt, pin: next.pin ? session.name : null });
      } finally {
        // Still holding the slot: a tab due for replacement is replaced before anyone can take it.
        await lease.giveTab(tab, !this.#stopSignal.aborted && !this.#opts.interrupt.hard.aborted && !lease.lost.aborted);
        slot.release();
      }
    }
  }

  /** The session's live browser; a session that may not relaunch any more retires. */
  async #ready(lanes: Lanes): Promise<SessionLease> {
    try {
      return await lanes.session.ready();
    } catch (error) {
      this.#retire(lanes, `its browser could not be brought back: ${serializeError(error).message}`);
      throw error;
    }
  }

  /** A gate slot; undefined when it was given up because no queued job can go to this profile any more. */
  async #acquire(lanes: Lanes, signal: AbortSignal): Promise<Slot | undefined> {
    const { source } = this.#opts;
    const name = lanes.session.name;
    const gone = new AbortController();
    const off = source.onChange(() => {
      if (!source.hasWorkFor(name)) gone.abort();
    });
    try {
      return await lanes.session.gate.acquire({ signal: AbortSignal.any([signal, gone.signal]) });
    } catch (error) {
      if (gone.signal.aborted && !signal.aborted) return undefined;
      throw error;
    } finally {
      off();
    }
  }

  /** The page pressed send (counted once per attempt) or moved to the conversation of a job in flight (journalled once). */
  #onProgress(profile: string, message: { jobId: string; phase: string; conversationUrl?: string }): void {
    this.#opts.events.emitEvent({ type: 'job-progress', id: message.jobId, phase: message.phase, conversationUrl: message.conversationUrl, profile });
    const active = this.#active.get(message.jobId);
    if (!active || active.profile !== profile) return;
    if (message.phase === 'sent' && !active.sent) {
      active.sent = true;
      this.#outcome.profiles.get(profile)!.promptsSent += 1;
    }
    if (!message.conversationUrl || (message.phase !== 'conversation' && message.phase !== 'sent')) return;
    if (!isConversationUrl(message.conversationUrl, this.#opts.provider)) return;
    // Queued in the lifecycle; the attempt awaits it (and any write error) before its next step.
    active.mind.lifecycle.submitted(message.conversationUrl).catch(() => undefined);
  }

  #mind(job: Job): JobMind {
    let mind = this.#minds.get(job.id);
    if (!mind) {
      mind = {
        lifecycle: new JobLifecycle(job, this.#opts.store, this.#opts.events, this.#opts.hooks ?? {}),
        memory: { verifyFailures: new Map(), rejectedFileIds: new Set(), imageIntent: 'tool-or-prefix' },
        failures: 0,
        failuresByKind: new Map(),
      };
      this.#minds.set(job.id, mind);
    }
    return mind;
  }

  /** One attempt of the ticket's job in `tab`, and what follows it. */
  async #run(lanes: Lanes, lease: SessionLease, tab: Tab, ticket: Ticket): Promise<Next> {
    const { events } = this.#opts;
    const { session } = lanes;
    const profile = session.name;
    const job = ticket.job;
    const mind = this.#mind(job);
    const { lifecycle } = mind;
    const startedAt = Date.now();
    let attempt: number;
    try {
      attempt = await lifecycle.start({ profile, forgetConversation: ticket.moved });
    } catch (error) {
      this.#fatal(error);
      return { done: false, countsAsAttempt: false, pin: false };
    }
    if (ticket.moved) events.emitEvent({ type: 'note', message: `${job.id} was started by a profile that is gone; ${profile} sends it afresh`, profile });
    this.#outcome.attempts += 1;
    this.#active.set(job.id, { mind, profile, sent: false });
    this.#countStart(profile, startedAt);
    events.emitEvent({ type: 'job-start', id: job.id, attempt, profile });
    await lease.beginEvidence(job.id, attempt);
    try {
      const result = await this.#attempt(lease.deps, tab, lifecycle, mind.memory, startedAt);
      await lease.endEvidence(job.id, attempt, false);
      lanes.consecutiveCooldowns = 0;
      lanes.consecutiveDrifts = 0;
      lanes.failStreak = 0;
      lanes.rests = 0;
      this.#outcome.profiles.get(profile)!.verified += 1;
      for (const [role, index] of Object.entries(result.matched)) this.#outcome.drift[role] = Math.max(this.#outcome.drift[role] ?? 0, index);
      const ms = Date.now() - startedAt;
      this.#verifiedMs += ms;
      this.#verifiedCount += 1;
      events.emitEvent({ type: 'job-verified', id: job.id, path: result.file, attempt, ms, bytes: result.bytes, profile, ...this.#finish() });
      this.#minds.delete(job.id);
      return { done: true };
    } catch (raw) {
      // A hard stop, a run already stopping, or this profile's browser going away voids the attempt:
      // what failed was the stop tearing it down, not the job. The journal keeps it as started or
      // submitted, and the next attempt (on this profile) looks in its conversation first.
      if (this.#opts.interrupt.hard.aborted || this.#outcome.stopReason !== undefined || lease.lost.aborted) {
        // The voided attempt never ended in the lifecycle: the next one starts from the journal.
        mind.lifecycle = new JobLifecycle(job, this.#opts.store, this.#opts.events, this.#opts.hooks ?? {});
        return { done: false, countsAsAttempt: false, pin: this.#hasConversation(job) };
      }
      return await this.#failed(lanes, lease, tab, ticket, mind, attempt, raw);
    } finally {
      this.#active.delete(job.id);
    }
  }

  async #failed(lanes: Lanes, lease: SessionLease, tab: Tab, ticket: Ticket, mind: JobMind, attempt: number, raw: unknown): Promise<Next> {
    const { events } = this.#opts;
    const { session } = lanes;
    const profile = session.name;
    const job = ticket.job;
    const error = raw instanceof SemantestError ? raw : classifyUnknown(raw);
    if (error.kind === 'cooldown') lanes.consecutiveCooldowns += 1;
    if (error.kind === 'drift') lanes.consecutiveDrifts += 1;
    mind.failuresByKind.set(error.kind, (mind.failuresByKind.get(error.kind) ?? 0) + 1);
    // An answer in words: the next send asks with the image tool and the prefix both.
    if (error.kind === 'no-image') mind.memory.imageIntent = 'tool-and-prefix';
    const failuresIfCounted = mind.failures + 1;
    let decision = decideRetry(
      { kind: error.kind, resetInMs: 'resetInMs' in error ? (error.resetInMs as number | undefined) : undefined, answerSpent: error instanceof StaleImageError },
      { failures: failuresIfCounted, sameKind: mind.failuresByKind.get(error.kind)!, consecutiveCooldowns: lanes.consecutiveCooldowns, consecutiveDrifts: lanes.consecutiveDrifts },
      this.#opts,
    );
    // With other profiles still working, a login wall or a challenge takes this profile out of the
    // run instead of stopping it; the job waits for its profile's pin to lapse or goes elsewhere.
    const others = this.#lanes.some((l) => l !== lanes && !l.retired.signal.aborted);
    const retireForHuman = decision.action === 'stop-run' && HUMAN_KINDS.has(error.kind) && others;
    if (retireForHuman) decision = { action: 'retry', delayMs: 0, countsAsAttempt: false, forgetConversation: false };
    const final = decision.action === 'fail';
    const evidence = [await lease.endEvidence(job.id, attempt, true), ...(await lease.firstOfKind(error.kind, job.id, tab, final))];
    try {
      await mind.lifecycle.failed(error.kind, error.message, { final, forgetConversation: decision.forgetConversation, evidence: evidence.filter((f): f is string => f !== undefined) });
    } catch (writeError) {
      this.#fatal(writeError);
      return { done: false, countsAsAttempt: false, pin: false };
    }
    if (retireForHuman) {
      events.emitEvent({ type: 'human-needed', kind: error.kind, message: `${error.message} — profile ${profile} takes no more jobs this run (log in with \`semantest-run login --profile ${profile}\`); the others carry on`, waiting: false, profile });
      this.#retire(lanes, `${error.kind === 'login' ? 'the site asks to log in' : 'the site shows a challenge'} (${error.message})`, 'waiting for a login');
    } else if (HEALTH_KINDS.has(error.kind) && decision.action !== 'stop-run') {
      this.#health(lanes, error);
    }
    return this.#act(lanes, lease, tab, ticket, mind, error, decision, failuresIfCounted);
  }

  async #act(lanes: Lanes, lease: SessionLease, tab: Tab, ticket: Ticket, mind: JobMind, error: SemantestError, decision: RetryDecision, failures: number): Promise<Next> {
    const { events } = this.#opts;
    const { session } = lanes;
    const profile = session.name;
    const job = ticket.job;
    const pin = this.#hasConversation(job);
    switch (decision.action) {
      case 'fail':
        this.#minds.delete(job.id);
        events.emitEvent({ type: 'job-failed', id: job.id, kind: error.kind, message: error.message, profile, ...this.#finish() });
        return { done: true };
      case 'stop-run':
        if (error.kind === 'fatal' || error.kind === 'drift') {
          this.#fatal(error);
        } else {
          this.#outcome.humanNeeded ??= { kind: error.kind, message: error.message, profile };
          events.emitEvent({ type: 'human-needed', kind: error.kind, message: error.message, waiting: false, profile });
          this.#halt('human-needed');
        }
        return { done: false, countsAsAttempt: false, pin };
      case 'wait-for-human':
        session.setState('waiting for a login', { reason: error.message });
        events.emitEvent({ type: 'human-needed', kind: error.kind, message: `${error.message} — the browser window is waiting for you; the run goes on by itself once the site is back`, waiting: true, profile });
        // A tab closed meanwhile is the browser going away: the relaunch takes over.
        await lease.waitForHuman(tab, this.#opts.interrupt.soft).catch(() => undefined);
        session.setState('working');
        return { done: false, countsAsAttempt: false, pin };
      case 'pause-profile': {
        const until = Date.now() + decision.delayMs;
        const reason = error.kind === 'quota' ? `usage cap reached: "${error.message}"` : `the site asked to slow down: "${error.message}"`;
        session.gate.pauseUntil(until, reason);
        try {
          // The account's pause is on disk before anyone hears of it: any book on this profile honours it.
          await session.savePacing();
        } catch (writeError) {
          this.#fatal(writeError);
          return { done: false, countsAsAttempt: false, pin };
        }
        events.emitEvent({ type: 'pause', until, reason, profile });
        session.setState('paused', { until, reason });
        this.#resumeStateAt(lanes, until);
        // A cap is the account's, not the panel's: the job may go to any profile.
        return { done: false, countsAsAttempt: false, pin: false };
      }
      case 'retry': {
        if (error instanceof DisconnectError && !session.extensionConnected()) {
          // The extension reconnects by itself after a hiccup; if the whole browser is gone, the lost
          // signal ends this wait and the lane relaunches it.
          await Promise.race([session.waitForExtension(60_000).catch(() => undefined), aborted(AbortSignal.any([this.#stopSignal, lease.lost]))]);
        }
        mind.failures += decision.countsAsAttempt ? 1 : 0;
        const notBefore = Date.now() + decision.delayMs;
        if (!lanes.retired.signal.aborted) events.emitEvent({ type: 'job-retry', id: job.id, kind: error.kind, message: error.message, attempt: failures, notBefore, profile });
        return { done: false, notBefore, countsAsAttempt: decision.countsAsAttempt, pin };
      }
    }
  }

  /** A profile of several that keeps failing rests, then retires (Crawlee's session pool does the same). */
  #health(lanes: Lanes, error: SemantestError): void {
    if (this.#lanes.length < 2) return; // one profile: the per-job retry budget is the limit, as it always was
    lanes.failStreak += 1;
    if (lanes.failStreak < STREAK_TO_REST) return;
    lanes.failStreak = 0;
    if (lanes.rests >= RESTS_TO_RETIRE) {
      this.#retire(lanes, `it failed ${STREAK_TO_REST} attempts in a row after resting ${RESTS_TO_RETIRE} times (last: ${error.kind}: ${error.message})`);
      return;
    }
    lanes.rests += 1;
    const until = Date.now() + this.#opts.restMs;
    lanes.session.gate.pauseUntil(until, `resting after ${STREAK_TO_REST} failed attempts in a row`);
    lanes.session.setState('resting', { until, reason: `${STREAK_TO_REST} failed attempts in a row (last: ${error.kind})` });
    this.#resumeStateAt(lanes, until);
  }

  /** Says "working" again when a pause or rest ends (if nothing else changed the state meanwhile). */
  #resumeStateAt(lanes: Lanes, until: number): void {
    const timer = setTimeout(() => {
      if (!lanes.retired.signal.aborted && !this.#stopSignal.aborted) lanes.session.setState('working');
    }, Math.max(0, until - Date.now()));
    timer.unref();
  }

  #retire(lanes: Lanes, reason: string, state: 'retired' | 'waiting for a login' = 'retired'): void {
    if (lanes.retired.signal.aborted) return;
    lanes.retired.abort();
    const stats = this.#outcome.profiles.get(lanes.session.name)!;
    stats.retired = reason;
    lanes.session.setState(state, { reason });
    this.#opts.events.emitEvent({ type: 'note', message: `profile ${lanes.session.name} takes no more jobs this run: ${reason}`, profile: lanes.session.name });
    this.#opts.source.retire(lanes.session.name);
    if (this.#lanes.every((l) => l.retired.signal.aborted) && !this.#outcome.stopReason) {
      // No profile is left: the jobs left stay in the checkpoint for the next run.
      if (state === 'waiting for a login') {
        this.#outcome.humanNeeded ??= { kind: 'login', message: reason, profile: lanes.session.name };
        this.#halt('human-needed');
      } else {
        this.#opts.source.close();
      }
    }
  }

  /** Whether the job's record still names a conversation this profile can look in. */
  #hasConversation(job: Job): boolean {
    return !!this.#opts.store.get(job.id)?.conversationUrl;
  }

  #halt(reason: 'human-needed' | 'fatal'): void {
    if (this.#opts.interrupt.hard.aborted || this.#outcome.stopReason) return;
    this.#outcome.stopReason = reason;
    this.#stop.abort();
  }

  #fatal(error: unknown): void {
    this.#outcome.fatal ??= error instanceof SemantestError ? error : new TransientError(serializeError(error).message);
    this.#halt('fatal');
  }

  #finish() {
    this.#done += 1;
    // A fleet worker's source is fed while the run goes on: what it set out to do grows with it.
    this.#toRun = Math.max(this.#toRun, this.#opts.source.added);
    const remaining = Math.max(0, this.#toRun - this.#done);
    if (remaining === 0) return { done: this.#done, toRun: this.#toRun, etaMs: 0 };
    // The pace so far, carried on; but a quota window or a pause still to come is not in the past's
    // pace: then the planner's model (src/plan/estimate.ts) says longer, and the longer one is told.
    const linear = ((Date.now() - this.#firstStart) / this.#done) * remaining;
    return { done: this.#done, toRun: this.#toRun, etaMs: Math.max(linear, this.#modelEta(remaining) ?? 0) };
  }

  /** A start on `profile` at `at`, in its quota window (a window begins at the first start after the last one ended). */
  #countStart(profile: string, at: number): void {
    const quota = this.#opts.book.quota;
    if (quota) this.#windows.set(profile, countInWindow(this.#windows.get(profile), at, quota.hours * 3_600_000));
  }

  /** The estimate for `remaining` jobs on the profiles still working, when the book has a quota or one of them is paused. */
  #modelEta(remaining: number): number | undefined {
    if (this.#verifiedCount === 0) return undefined;
    const now = Date.now();
    const quota = this.#opts.book.quota;
    const lanes = this.#lanes.filter((l) => !l.retired.signal.aborted);
    if (lanes.length === 0) return undefined;
    const profiles: ProfileNow[] = lanes.map(({ session }) => {
      const state = session.gate.state();
      const window = this.#windows.get(session.name);
      return {
        ...(state.pauseUntil !== undefined ? { pauseUntil: state.pauseUntil } : {}),
        ...(state.lastStartAt !== undefined ? { lastStartAt: state.lastStartAt } : {}),
        startsSinceCooldown: state.startsSinceCooldown,
        ...(window ? { windowStartedAt: window.start, imagesInWindow: window.count } : {}),
      };
    });
    if (!quota && !profiles.some((p) => (p.pauseUntil ?? 0) > now)) return undefined;
    try {
      return (
        estimateFinish({
          jobs: remaining,
          profiles,
          gate: lanes[0].session.gate.pacing,
          imageMs: this.#verifiedMs / this.#verifiedCount,
          ...(quota ? { quota: { images: quota.images, windowMs: quota.hours * 3_600_000 } } : {}),
          now,
        }) - now
      );
    } catch {
      return undefined; // a figure the model refuses never stops a run: the pace so far is told
    }
  }
}

/** Anything untyped (a Playwright or file-system error) is retried; a closed browser is a disconnect. */
function classifyUnknown(error: unknown): SemantestError {
  const { message } = serializeError(error);
  if (/Target (page, context or browser )?(has been )?closed|browser has been closed/i.test(message)) return new DisconnectError(message);
  return new TransientError(message);
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
