// The one owner of a job's state (ARCHITECTURE §6, docs/ARCHITECTURE.md "Journal states"): every journal
// write for a job goes through here, each awaited (appended and fsynced) before the step it
// announces, and each followed by a `job-state` event. Nothing else writes job state.
//
//   pending → started(n) → submitted(url) → downloaded → verified
//                  └──────────┴──────────────┴──────────→ failed(kind) → started(n+1) …
import { isConversationUrl, type ProviderDescriptor } from '../protocol/provider.js';
import type { FailureKind } from '../protocol/errors.js';
import type { Job } from '../prompts/types.js';
import type { RunEvents } from '../events.js';
import type { JobRecord, JobState, JobStore } from '../store/index.js';
import type { RunHooks } from './hooks.js';

type Phase = 'idle' | 'started' | 'submitted' | 'downloaded' | 'verified' | 'failed';

/** A transition the lifecycle does not allow: a bug in the caller, never a site's doing. */
export class LifecycleError extends Error {}

export class JobLifecycle {
  readonly job: Job;
  readonly #store: JobStore;
  readonly #events: RunEvents;
  readonly #hooks: RunHooks;
  #phase: Phase = 'idle';
  #attempt: number;
  /** Writes announced by events from the page (the conversation URL), in order; `settle()` awaits them. */
  #pending: Promise<void> = Promise.resolve();
  #pendingError: unknown;

  constructor(job: Job, store: JobStore, events: RunEvents, hooks: RunHooks = {}) {
    this.job = job;
    this.#store = store;
    this.#events = events;
    this.#hooks = hooks;
    this.#attempt = store.get(job.id)?.attempts ?? 0;
  }

  get attempt(): number {
    return this.#attempt;
  }

  get record(): JobRecord | undefined {
    return this.#store.get(this.job.id);
  }

  /** Whether an attempt is under way (started and not yet verified or failed). */
  get active(): boolean {
    return this.#phase === 'started' || this.#phase === 'submitted' || this.#phase === 'downloaded';
  }

  /** The conversation an earlier attempt sent this prompt to, if it can be looked in. */
  conversationToRevisit(provider: ProviderDescriptor): string | undefined {
    const url = this.record?.conversationUrl;
    return url && isConversationUrl(url, provider) ? url : undefined;
  }

  /**
   * Begins attempt n+1 on `profile` (journalled: only that account can look in its conversation).
   * A conversation from a finished image, an older prompt or another account is not one this
   * attempt can use: forgotten.
   */
  async start(opts: { profile?: string; forgetConversation?: boolean } = {}): Promise<number> {
    if (this.active) throw new LifecycleError(`${this.job.id}: attempt ${this.#attempt} is still under way`);
    const before = this.record;
    const otherAccount = opts.profile !== undefined && before?.profile !== undefined && before.profile !== opts.profile;
    const foreign =
      !!before?.conversationUrl && (opts.forgetConversation || otherAccount || before.state === 'verified' || (!!before.promptHash && before.promptHash !== this.job.promptHash));
    const attempt = this.#attempt + 1;
    await this.#write('started', { attempt, promptHash: this.job.promptHash, ...(opts.profile !== undefined ? { profile: opts.profile } : {}), ...(foreign ? { conversationUrl: '' } : {}) });
    this.#attempt = attempt;
    this.#phase = 'started';
    this.#pendingError = undefined;
    this.#hooks.crashPoint?.('after-started');
    return attempt;
  }

  /**
   * The page now shows the conversation this attempt's prompt went to. Journalled the first time it
   * is seen; queued behind earlier writes, so callers from events need not wait (the attempt awaits
   * `settle()` before its next step, and any write error surfaces there).
   */
  submitted(conversationUrl: string): Promise<void> {
    const task = this.#pending.then(async () => {
      if (!this.active || this.record?.conversationUrl === conversationUrl) return;
      await this.#write(this.#phase === 'downloaded' ? 'downloaded' : 'submitted', { conversationUrl });
      if (this.#phase === 'started') this.#phase = 'submitted';
      this.#hooks.crashPoint?.('after-submit');
    });
    this.#pending = task.catch((error) => {
      this.#pendingError ??= error;
    });
    return task;
  }

  /** Waits for queued writes; rethrows the first one that failed. */
  async settle(): Promise<void> {
    await this.#pending;
    if (this.#pendingError !== undefined) throw this.#pendingError;
  }

  async downloaded(part: string, sha256: string, fileId: string): Promise<void> {
    this.#expect('downloaded', ['started', 'submitted', 'downloaded']);
    await this.settle();
    await this.#write('downloaded', { path: part, sha256, fileId });
    this.#phase = 'downloaded';
  }

  async verified(file: string, sha256: string, fileId: string): Promise<void> {
    this.#expect('verified', ['downloaded']);
    await this.settle();
    await this.#write('verified', { path: file, sha256, fileId });
    this.#phase = 'verified';
  }

  /**
   * Ends the attempt as failed. `final` says whether the job is done trying; `forgetConversation`
   * that the conversation's answer is spent, so the next attempt sends afresh instead of looking there.
   */
  async failed(kind: FailureKind, message: string, opts: { final: boolean; forgetConversation?: boolean; evidence?: string[] }): Promise<void> {
    this.#expect('failed', ['started', 'submitted', 'downloaded']);
    await this.#pending; // a failed queued write is superseded by this one
    await this.#write('failed', {
      failure: { kind, message, final: opts.final, ...(opts.evidence?.length ? { evidence: opts.evidence } : {}) },
      ...(opts.forgetConversation ? { conversationUrl: '' } : {}),
    });
    this.#phase = 'failed';
  }

  #expect(next: JobState, from: Phase[]): void {
    if (!from.includes(this.#phase)) throw new LifecycleError(`${this.job.id}: cannot go from ${this.#phase} to ${next}`);
  }

  async #write(state: JobState, fields: Record<string, unknown>): Promise<void> {
    await this.#store.record({ t: 'job', id: this.job.id, state, ...fields });
    const record = this.record;
    this.#events.emitEvent({
      type: 'job-state',
      id: this.job.id,
      state,
      attempt: record?.attempts ?? this.#attempt,
      ...(record?.conversationUrl ? { conversationUrl: record.conversationUrl } : {}),
      ...(record?.failure && state === 'failed' ? { kind: record.failure.kind } : {}),
      ...(record?.profile ? { profile: record.profile } : {}),
    });
  }
}
