// The dispatcher with fake profile sessions (real gates, a real store on disk, a fake attempt
// pipeline): which profile gets which job, what a cap, a login wall or a retry from a person does.
// The browser specs (e2e/profiles.spec.ts) prove the same through real Chromium.
import { describe, expect, it } from 'vitest';
import { LoginRequiredError, QuotaError, TransientError } from '../protocol/errors.js';
import { loadProvider } from '../providers/index.js';
import type { Job, PromptBook, Quota } from '../prompts/types.js';
import { RunEvents, type RunEvent } from '../events.js';
import { Gate } from '../schedule/gate.js';
import { openJobStore, type JobStore } from '../store/index.js';
import { withTempDir } from '../../test/support/store.js';
import type { AttemptDeps, AttemptResult, Tab } from './attempt.js';
import { Dispatcher, type DispatchSession, type SessionLease } from './dispatcher.js';
import { ImageClaims } from './image-claims.js';
import type { JobLifecycle } from './job-lifecycle.js';
import { LocalJobSource } from './job-source.js';
import { RunControl } from './run-control.js';

const provider = loadProvider('chatgpt', 'http://127.0.0.1:9/');

function jobs(n: number): Job[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `ch1/s1/p${i + 1}`, order: i, chapter: 'ch1', strip: 's1', panel: `p${i + 1}`, prompt: `panel ${i + 1}`, finalPrompt: `panel ${i + 1}`,
    promptHash: `h${i}`, outputPath: `ch1/s1/p${i + 1}.png`, source: { file: 'book.yaml', line: i + 1 },
  }));
}

type Script = (profile: string, jobId: string, attempt: number) => 'ok' | Error;

class FakeSession implements DispatchSession {
  readonly gate: Gate;
  readonly states: string[] = [];
  readonly lanes: number;
  saves = 0;
  readonly #listeners = new Set<(m: { jobId: string; phase: string; conversationUrl?: string }) => void>();
  readonly #lost = new AbortController();

  constructor(readonly name: string, lanes = 1) {
    this.lanes = lanes;
    this.gate = new Gate({ concurrency: lanes, minGapMs: 5, jitterMs: 0, cooldownEvery: 0, cooldownMs: 0 });
  }

  setState(state: string): void {
    this.states.push(state);
  }

  async savePacing(): Promise<void> {
    this.saves += 1;
  }

  async ready(): Promise<SessionLease> {
    const tabs: Tab[] = Array.from({ length: this.lanes }, (_, i) => ({ tabId: i, page: {} as Tab['page'] }));
    return {
      deps: { profile: this.name } as AttemptDeps,
      lost: this.#lost.signal,
      takeTab: () => tabs.pop()!,
      giveTab: async (tab) => void tabs.push(tab),
      beginEvidence: async () => undefined,
      endEvidence: async () => undefined,
      firstOfKind: async () => [],
      waitForHuman: async () => undefined,
    };
  }

  extensionConnected(): boolean {
    return true;
  }

  async waitForExtension(): Promise<void> {}

  onProgress(listener: (m: { jobId: string; phase: string; conversationUrl?: string }) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** What the extension says when the send button was pressed. */
  sent(jobId: string): void {
    for (const listener of this.#listeners) listener({ jobId, phase: 'sent' });
  }
}

async function setup(dir: string, opts: { sessions: FakeSession[]; jobs: number; script: Script; reassignAfterMs?: number; control?: RunControl; store?: JobStore; retries?: number; restMs?: number; quota?: Quota }) {
  const store = opts.store ?? (await openJobStore(dir));
  const list = jobs(opts.jobs);
  const book: PromptBook = { book: 'b', provider: 'chatgpt', style: '', pacing: { concurrency: 1, minGapSeconds: 0, jitterSeconds: 0, cooldownEvery: 0, cooldownSeconds: 0 }, ...(opts.quota ? { quota: opts.quota } : {}), file: 'book.yaml', jobs: list };
  const source = new LocalJobSource(opts.sessions.map((s) => s.name), { reassignAfterMs: opts.reassignAfterMs ?? 600_000 });
  for (const job of list) source.add(job);
  const events = new RunEvents();
  const seen: RunEvent[] = [];
  events.on('event', (e) => seen.push(e));
  const attempts: Array<{ profile: string; id: string }> = [];
  const runAttempt = async (deps: AttemptDeps, _tab: Tab, job: JobLifecycle): Promise<AttemptResult> => {
    const session = opts.sessions.find((s) => s.name === deps.profile)!;
    attempts.push({ profile: deps.profile, id: job.job.id });
    session.sent(job.job.id);
    await new Promise((resolve) => setImmediate(resolve));
    const verdict = opts.script(deps.profile, job.job.id, job.attempt);
    if (verdict instanceof Error) throw verdict;
    await job.downloaded(`${job.job.outputPath}.part`, 'sha', `file_${job.job.id}`);
    await job.verified(job.job.outputPath, 'sha', `file_${job.job.id}`);
    return { file: job.job.outputPath, bytes: 1, sha256: 'sha', conversationUrl: '', matched: {} };
  };
  const never = new AbortController().signal;
  const dispatcher = new Dispatcher({
    sessions: opts.sessions, source, store, provider, book, claims: new ImageClaims(), events, interrupt: { soft: never, hard: never },
    control: opts.control, maxRelaunches: 3, restMs: opts.restMs ?? 60_000, runAttempt,
    retries: opts.retries ?? 3, backoffBaseMs: 1, quotaMarginMs: 0, rateLimitPauseMs: 60_000, headless: true,
  });
  return { store, source, seen, attempts, dispatcher, list };
}

describe('dispatcher', () => {
  it('a cap on one profile moves its job to the other, which does the rest at its own pace', async () => {
    await withTempDir(async (dir) => {
      const a = new FakeSession('a');
      const b = new FakeSession('b');
      const { store, seen, attempts, dispatcher } = await setup(dir, {
        sessions: [a, b],
        jobs: 6,
        // a's second prompt meets the usage cap (resets in an hour): a is done for this run.
        script: (profile) => (profile === 'a' && attempts.filter((x) => x.profile === 'a').length === 2 ? new QuotaError('You have hit your limit', 3_600_000) : 'ok'),
      });
      const outcome = await dispatcher.run();
      expect(outcome.stopReason).toBeUndefined();
      expect(Object.values(store.state().jobs).every((r) => r.state === 'verified')).toBe(true);
      expect(a.gate.state().pauseUntil).toBeGreaterThan(Date.now() + 3_000_000);
      expect(a.states).toContain('paused');
      // a sent 2 prompts (one met the cap), b did the other 5 jobs (the capped one included).
      expect(attempts.filter((x) => x.profile === 'a')).toHaveLength(2);
      expect(attempts.filter((x) => x.profile === 'b')).toHaveLength(5);
      expect(outcome.profiles.get('a')).toMatchObject({ verified: 1, promptsSent: 2 });
      expect(outcome.profiles.get('b')).toMatchObject({ verified: 5, promptsSent: 5 });
      expect(seen.filter((e) => e.type === 'pause').map((e) => (e as { profile?: string }).profile)).toEqual(['a']);
      // Every verified job is verified once, and each event names the profile that made it.
      const verified = seen.filter((e) => e.type === 'job-verified') as Array<{ id: string; profile?: string }>;
      expect(new Set(verified.map((e) => e.id)).size).toBe(6);
      expect(verified).toHaveLength(6);
      expect(verified.every((e) => e.profile === 'a' || e.profile === 'b')).toBe(true);
      // The journal names the profile of each attempt.
      expect(Object.values(store.state().jobs).map((r) => r.profile).sort()).toEqual(['a', 'b', 'b', 'b', 'b', 'b']);
      await store.close();
    });
  });

  it('a retried job goes back to the profile whose conversation holds it, and only to it', async () => {
    await withTempDir(async (dir) => {
      const a = new FakeSession('a');
      const b = new FakeSession('b');
      let failedOnce = false;
      const { store, attempts, dispatcher } = await setup(dir, {
        sessions: [a, b],
        jobs: 4,
        script: (profile, id) => {
          if (id === 'ch1/s1/p1' && !failedOnce) {
            failedOnce = true;
            return new TransientError(`timed out on ${profile}`);
          }
          return 'ok';
        },
      });
      // The first attempt's page reached its conversation before it failed.
      const original = store.record.bind(store);
      store.record = async (event) => {
        if (event.t === 'job' && event.state === 'failed' && event.id === 'ch1/s1/p1') return original({ ...event, conversationUrl: 'http://127.0.0.1:9/c/abc-123' });
        return original(event);
      };
      await dispatcher.run();
      const p1 = attempts.filter((x) => x.id === 'ch1/s1/p1');
      expect(p1).toHaveLength(2);
      expect(p1[1].profile).toBe(p1[0].profile);
      await store.close();
    });
  });

  it('a retry from a person with two profiles starts the job once', async () => {
    await withTempDir(async (dir) => {
      const a = new FakeSession('a');
      const b = new FakeSession('b');
      const control = new RunControl();
      let retried = false;
      const { store, attempts, dispatcher, seen } = await setup(dir, {
        sessions: [a, b],
        jobs: 3,
        control,
        retries: 0,
        script: (_profile, id, attempt) => {
          if (id === 'ch1/s1/p1' && attempt === 1) return new TransientError('Something went wrong');
          if (id === 'ch1/s1/p3' && !retried && store.get('ch1/s1/p1')?.state === 'failed') {
            retried = true;
            // p1 failed for good: a person presses "retry" on it, twice, and both profiles hear it.
            control.requeue('ch1/s1/p1');
            control.requeue('ch1/s1/p1');
          }
          return 'ok';
        },
      });
      await dispatcher.run();
      expect(retried).toBe(true);
      expect(attempts.filter((x) => x.id === 'ch1/s1/p1')).toHaveLength(2);
      expect(store.get('ch1/s1/p1')?.state).toBe('verified');
      expect(seen.filter((e) => e.type === 'job-verified' && e.id === 'ch1/s1/p1')).toHaveLength(1);
      await store.close();
    });
  });

  it('a login wall on one of two profiles takes that profile out; the other finishes the book', async () => {
    await withTempDir(async (dir) => {
      const a = new FakeSession('a');
      const b = new FakeSession('b');
      const { store, attempts, dispatcher, seen } = await setup(dir, {
        sessions: [a, b],
        jobs: 5,
        script: (profile) => (profile === 'a' ? new LoginRequiredError('the site asks to log in') : 'ok'),
      });
      const outcome = await dispatcher.run();
      expect(outcome.stopReason).toBeUndefined();
      expect(outcome.profiles.get('a')?.retired).toMatch(/log in/);
      expect(a.states).toContain('waiting for a login');
      expect(attempts.filter((x) => x.profile === 'a')).toHaveLength(1);
      expect(Object.values(store.state().jobs).every((r) => r.state === 'verified')).toBe(true);
      const human = seen.find((e) => e.type === 'human-needed') as { message: string; profile?: string };
      expect(human.profile).toBe('a');
      expect(human.message).toContain('semantest-run login --profile a');
      await store.close();
    });
  });

  it('a login wall on the only profile left stops the run for a person', async () => {
    await withTempDir(async (dir) => {
      const a = new FakeSession('a');
      const { store, dispatcher } = await setup(dir, { sessions: [a], jobs: 3, script: () => new LoginRequiredError('the site asks to log in') });
      const outcome = await dispatcher.run();
      expect(outcome.stopReason).toBe('human-needed');
      expect(outcome.humanNeeded).toMatchObject({ kind: 'login', profile: 'a' });
      await store.close();
    });
  });

  it('a profile of several that keeps failing rests, and retires after resting twice; the other carries the book', async () => {
    await withTempDir(async (dir) => {
      const a = new FakeSession('a');
      const b = new FakeSession('b');
      const { store, dispatcher, attempts } = await setup(dir, {
        sessions: [a, b],
        jobs: 40,
        retries: 20,
        restMs: 1,
        script: (profile) => (profile === 'a' ? new TransientError('Something went wrong') : 'ok'),
      });
      const outcome = await dispatcher.run();
      expect(a.states.filter((s) => s === 'resting')).toHaveLength(2);
      expect(outcome.profiles.get('a')?.retired).toMatch(/failed 3 attempts in a row after resting 2 times/);
      expect(attempts.filter((x) => x.profile === 'a')).toHaveLength(9);
      expect(Object.values(store.state().jobs).every((r) => r.state === 'verified')).toBe(true);
      await store.close();
    });
  });

  it('tells the time left from the pace so far, and from the quota windows still to come when the file gives a quota', async () => {
    const etas = async (quota?: Quota) =>
      withTempDir(async (dir) => {
        const { seen, dispatcher } = await setup(dir, { sessions: [new FakeSession('a')], jobs: 5, script: () => 'ok', ...(quota ? { quota } : {}) });
        await dispatcher.run();
        return seen.flatMap((e) => (e.type === 'job-verified' ? [e.etaMs ?? -1] : []));
      });
    const HOUR = 3_600_000;
    // No quota: five quick jobs, so a few milliseconds each is what is left; none after the last.
    const plain = await etas();
    expect(plain).toHaveLength(5);
    expect(Math.max(...plain)).toBeLessThan(5_000);
    expect(plain.at(-1)).toBe(0);
    // Two images an hour: after the first, one more fits its window, then two an hour later, then
    // the last two hours after the first: about 2 h, though the pace so far says milliseconds.
    const capped = await etas({ images: 2, hours: 1 });
    expect(capped[0]).toBeGreaterThan(2 * HOUR - 60_000);
    expect(capped[0]).toBeLessThan(2 * HOUR + 60_000);
    // This fake site never caps, so all five start in the first window: after the fourth, the last
    // one waits for the next window, an hour after the first start.
    expect(capped[3]).toBeGreaterThan(HOUR - 60_000);
    expect(capped.at(-1)).toBe(0);
  });
});
