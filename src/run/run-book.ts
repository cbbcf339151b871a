// The book run (docs/ARCHITECTURE.md §10 "Book run, profile sessions, dispatcher"): a prompt file
// to verified images. It owns what belongs to the book: its lock, its store, the plan, one claim
// registry for the images, the run control and the job source; it brings up one profile session
// per account (src/run/profile-session.ts), lets the dispatcher hand the jobs out
// (src/run/dispatcher.ts), and derives the summary from the store, so nothing is counted twice.
// What shows progress (console, dashboard) and the mock site are the CLI's (src/cli/main.ts).
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { FatalError, HumanNeededError, UsageError, serializeError } from '../protocol/errors.js';
import type { RunHooks } from './hooks.js';
import { RunControl } from './run-control.js';
import { loadPromptFile } from '../prompts/index.js';
import { PROFILE_NAME } from '../prompts/schema.js';
import type { Job, Pacing, PromptBook } from '../prompts/types.js';
import { loadProvider } from '../providers/index.js';
import type { RunEvents, RunSummary } from '../events.js';
import { acquireLock, openJobStore, type JobStore } from '../store/index.js';
import { pacingToGateOptions } from '../schedule/gate.js';
import { Dispatcher, type DispatchOutcome } from './dispatcher.js';
import { ImageClaims } from './image-claims.js';
import { LocalJobSource, type Ticket } from './job-source.js';
import { DEFAULT_RECYCLE_TABS_EVERY } from './tab-pool.js';
import { ProfileSession, type ProfileSessionOptions } from './profile-session.js';
import { planJobs, type PlanOptions } from './plan.js';
import { collectJobOutcomes } from './validation.js';
import { Cleanup } from '../browser/session.js';

/** What a run hands to the CLI's extras (the dashboard) once its store and control exist. */
export interface RunAttachment {
  readonly book: PromptBook;
  readonly store: JobStore;
  readonly control: RunControl;
  readonly bookDir: string;
  readonly events: RunEvents;
}

/**
 * Feeds the run's job source from outside the book (a fleet worker, src/fleet/link.ts): the run then
 * adds none of its planned jobs itself, keeps its source open until the feed closes it, and leaves
 * the output folder's `.part` files alone (other machines may be writing into a shared one).
 */
export interface JobFeed {
  /** What the run shows as "to run" at its start. */
  readonly expected: number;
  /** The sessions are open and the source ready: start feeding it (`deliver` adds one job). */
  start(ctx: FeedContext): Promise<void>;
  /** Awaited before a job starts on `profile` (after its pacing is saved): the fleet learns who has it. */
  beforeStart(job: Job, profile: string): Promise<void>;
  /** Told of every job finished in the source (verified, failed for good, or let go). */
  finished(ticket: Ticket): void;
  /** The dispatcher ended (or the run failed): hand back what is not finished. Called once or more. */
  stop(): Promise<void>;
}

export interface FeedContext {
  readonly source: LocalJobSource;
  readonly store: JobStore;
  readonly sessions: readonly ProfileSession[];
  readonly events: RunEvents;
  /** Ctrl-C: the first stops new starts, the second stops now (a wait for the fleet's Redis ends). */
  readonly interrupt: { soft: AbortSignal; hard: AbortSignal };
  /** The run's pause (the fleet's dashboard pauses a worker through it). */
  readonly control: RunControl;
  /** The book's output folder (a rejection moves the rejected image aside under it). */
  readonly bookDir: string;
  /** Queues one job in the run (its place as `ticketFor` says); false when it is already here. */
  deliver(job: Job): boolean;
}

export interface RunOptions extends PlanOptions {
  readonly file: string;
  readonly out: string;
  /** The profiles (accounts) to share the book among; empty: the prompt file's `profiles:`, else "default". */
  readonly profiles: readonly string[];
  readonly profilesDir: string;
  readonly checkpointsDir: string;
  readonly headless: boolean;
  readonly browser?: string;
  readonly baseUrl?: string;
  /** An updated provider descriptor (JSON) used instead of the built-in one. */
  readonly providerFile?: string;
  readonly pacing: Partial<Pacing>;
  readonly retries: number;
  readonly backoffBaseMs: number;
  readonly quotaMarginMs: number;
  readonly rateLimitPauseMs: number;
  readonly generationTimeoutMs: number;
  /** A job started by a profile that is gone goes to another this long after it was started. @default 10 min */
  readonly reassignAfterMs?: number;
  readonly events: RunEvents;
  /** Aborted on the first Ctrl-C (stop starting) and the second (stop now). */
  readonly interrupt: { soft: AbortSignal; hard: AbortSignal };
  /** Test hooks (crash points); production runs pass none. */
  readonly hooks?: RunHooks;
  /** Started once there is work (the dashboard); returns what closes it. */
  readonly attach?: (run: RunAttachment) => Promise<() => Promise<void>>;
  /** The site's own count of the shortest gap between two prompts (the mock's), for the summary. */
  readonly siteStats?: () => { minPromptGapMs: number | null };
  /** Keep a Playwright trace of each failed attempt under .evidence (holds the session cookie). */
  readonly trace?: boolean;
  /** Replace each tab by a fresh one after this many jobs in it (0: never; default in tab-pool.ts). */
  readonly recycleTabsEvery?: number;
  /** Loads the book instead of loadPromptFile (the `characters` command: its sheets as the jobs, src/prompts/sheets.ts). */
  readonly loadBook?: (file: string) => Promise<PromptBook>;
  /** The jobs come from a feed (a fleet worker) instead of the plan. */
  readonly feed?: JobFeed;
}

/** A profile relaunches a browser that went away at most this many times. */
const MAX_RELAUNCHES = 3;

export async function runBook(opts: RunOptions): Promise<RunSummary> {
  const startedAt = Date.now();
  const book = opts.loadBook ? await opts.loadBook(opts.file) : await loadPromptFile(opts.file, { sheetsDir: (slug) => path.join(opts.out, slug, 'characters') });
  // An updated descriptor is checked before anything starts, so a mistake in it costs nothing.
  if (opts.providerFile !== undefined) loadProvider(book.provider, opts.baseUrl, opts.providerFile);
  const profiles = profileNames(opts.profiles, book);
  const pacing: Pacing = { ...book.pacing, ...definedOnly(opts.pacing) };
  const checkpointDir = path.join(opts.checkpointsDir, book.book);
  await mkdir(checkpointDir, { recursive: true });
  const cleanup = new Cleanup();
  try {
    const lock = await acquireLock(path.join(checkpointDir, 'run.lock'), `book "${book.book}"`);
    cleanup.add(() => lock.release());
    // SEMANTEST_COMPACT_EVERY lets the chaos tests compact often enough to crash inside it.
    const store = await openJobStore(checkpointDir, {
      compactEvery: Number(process.env.SEMANTEST_COMPACT_EVERY) || undefined,
      ...(opts.hooks?.crashPoint ? { onCrashPoint: opts.hooks.crashPoint } : {}),
      onCompactionError: (error) =>
        opts.events.emitEvent({ type: 'note', message: `could not compact the checkpoint (${serializeError(error).message}); the journal still holds every step, and it is tried again later` }),
    });
    cleanup.add(() => store.close());
    const plan = await planJobs(book, store, opts);
    for (const message of plan.notes) opts.events.emitEvent({ type: 'note', message });
    // Under the book's lock no `.part` is being written: any left is from a run that was killed.
    const leftovers = opts.feed ? 0 : await removePartFiles(path.join(opts.out, book.book));
    if (leftovers > 0) opts.events.emitEvent({ type: 'note', message: `removed ${leftovers} unfinished download${leftovers === 1 ? '' : 's'} (.part) left by an earlier run` });
    // How each planned job goes, from the events the run emits anyway (the validation report reads it).
    const outcomes = collectJobOutcomes(opts.events, plan.toRun);
    cleanup.add(async () => outcomes.stop());
    /** Every job this run set out to do, and those a person sent back meanwhile. */
    const ran = new Set(opts.feed ? [] : plan.toRun.map((job) => job.id));
    let outcome: DispatchOutcome | undefined;
    let states = new Map<string, string>();
    if (plan.toRun.length > 0 || opts.feed) {
      const bookDir = path.resolve(opts.out, book.book);
      const control = new RunControl();
      control.on('requeue', (id) => ran.add(id));
      if (opts.attach) cleanup.add(await opts.attach({ book, store, control, bookDir, events: opts.events }));
      const provider = loadProvider(book.provider, opts.baseUrl, opts.providerFile);
      const concurrency = opts.feed ? pacing.concurrency : Math.min(pacing.concurrency, plan.toRun.length);
      const gate = { ...pacingToGateOptions(pacing), concurrency };
      const claims = new ImageClaims(Object.values(store.state().jobs));
      const sessions = await openSessions(profiles, {
        profilesDir: opts.profilesDir,
        provider,
        headless: opts.headless,
        browser: opts.browser,
        gate,
        bookDir,
        trace: opts.trace,
        recycleTabsEvery: opts.recycleTabsEvery ?? DEFAULT_RECYCLE_TABS_EVERY,
        events: opts.events,
        hardStop: opts.interrupt.hard,
        maxRelaunches: MAX_RELAUNCHES,
        attempt: {
          bookDir,
          book: { book: book.book, style: book.style, provider: book.provider },
          generationTimeoutMs: opts.generationTimeoutMs,
          sendGapMs: Math.round(gate.minGapMs),
          claims,
          hooks: opts.hooks ?? {},
        },
      });
      cleanup.add(() => Promise.all(sessions.map((s) => s.close())));
      opts.events.emitEvent({
        type: 'run-start',
        book: book.book,
        total: book.jobs.length,
        toRun: opts.feed ? opts.feed.expected : plan.toRun.length,
        skipped: plan.skipped.length,
        baseUrl: provider.baseUrl,
        profile: profiles[0],
        profiles,
        headless: opts.headless,
        concurrency,
        ...(book.quota ? { quota: { images: book.quota.images, windowMs: book.quota.hours * 3_600_000 } } : {}),
      });
      for (const session of sessions) {
        // Each profile's pacing and what it restored (a pause another book met on this account included).
        const restored = session.gate.state();
        opts.events.emitEvent({ type: 'pacing', ...gate, startsSinceCooldown: restored.startsSinceCooldown, ...(restored.lastStartAt !== undefined ? { lastStartAt: restored.lastStartAt } : {}), profile: session.name });
        if (restored.pauseUntil !== undefined) {
          const reason = restored.pauseReason ?? 'a pause from an earlier run';
          opts.events.emitEvent({ type: 'pause', until: restored.pauseUntil, reason: `${reason} (met earlier on this account)`, profile: session.name });
          session.setState('paused', { until: restored.pauseUntil, reason });
        }
      }
      await store.record({ t: 'run', event: 'start', pid: process.pid, argv: redactArgv(process.argv.slice(2)) });
      const feed = opts.feed;
      const source = new LocalJobSource(profiles, {
        reassignAfterMs: opts.reassignAfterMs ?? 10 * 60_000,
        ...(feed ? { open: true, onFinish: (ticket: Ticket) => feed.finished(ticket) } : {}),
      });
      if (feed) {
        cleanup.add(() => feed.stop());
        await feed.start({
          source,
          store,
          sessions,
          events: opts.events,
          control,
          bookDir,
          interrupt: opts.interrupt,
          deliver: (job) => {
            if (!source.add(job, ticketFor(job, store, profiles[0]))) return false;
            ran.add(job.id);
            return true;
          },
        });
      } else {
        for (const job of plan.toRun) source.add(job, ticketFor(job, store, profiles[0]));
      }
      outcome = await new Dispatcher({
        sessions,
        source,
        store,
        provider,
        book,
        claims,
        events: opts.events,
        interrupt: opts.interrupt,
        hooks: opts.hooks,
        control,
        maxRelaunches: MAX_RELAUNCHES,
        restMs: opts.rateLimitPauseMs,
        headless: opts.headless,
        retries: opts.retries,
        backoffBaseMs: opts.backoffBaseMs,
        quotaMarginMs: opts.quotaMarginMs,
        rateLimitPauseMs: opts.rateLimitPauseMs,
        ...(feed ? { beforeStart: (job: Job, profile: string) => feed.beforeStart(job, profile) } : {}),
      }).run();
      // What the fleet gave this worker and it did not finish goes back before the summary.
      await feed?.stop();
      const every = opts.recycleTabsEvery ?? DEFAULT_RECYCLE_TABS_EVERY;
      for (const session of sessions) {
        const recycled = session.recycledTabs;
        if (recycled > 0) opts.events.emitEvent({ type: 'note', message: `replaced ${recycled} used tab${recycled === 1 ? '' : 's'} by fresh ones (every ${every} jobs in a tab) to keep the browser's memory flat`, profile: session.name });
      }
      // Drift is visible before it breaks a run: a role found only by a fallback selector.
      for (const [role, index] of Object.entries(outcome.drift)) {
        const selector = provider.selectors[role as keyof typeof provider.selectors]?.[index];
        opts.events.emitEvent({ type: 'note', message: `the page drifts from the ${provider.name} descriptor: ${role} matched by its ${ordinal(index + 1)} selector${selector ? ` (${selector})` : ''}; update the descriptor before it breaks (--provider-file)` });
      }
      const ended = outcome;
      await store.record({ t: 'run', event: 'stop', pid: process.pid, reason: outcome.stopReason ?? 'done' }).catch((error) => {
        if (!ended.fatal) throw error;
      });
      states = new Map(sessions.map((s) => [s.name, s.state]));
    }
    const summary = summarize(book, store, plan, ran, outcome, states, opts, startedAt, outcomes.jobs);
    opts.events.emitEvent({ type: 'run-end', summary });
    if (outcome?.fatal) throw outcome.fatal;
    if (outcome?.humanNeeded) {
      const { message, profile } = outcome.humanNeeded;
      throw new HumanNeededError(`${message}. The run stopped with its state saved; log in with \`semantest-run login --profile ${profile}\`, then run again with --resume.`);
    }
    const retired = summary.profiles?.filter((p) => p.state === 'retired') ?? [];
    if (!summary.stopReason && summary.notRun > 0 && retired.length === profiles.length) {
      throw new FatalError(`no profile is left to run the ${summary.notRun} job${summary.notRun === 1 ? '' : 's'} not done: ${retired.map((p) => `${p.name}: ${p.reason}`).join('; ')}. The state is saved; --resume continues`);
    }
    return summary;
  } finally {
    // Never hang on the way out: each step (a wedged browser, the hub, the store) gets a bounded time.
    await cleanup.run();
  }
}

/** The run's profiles: the command line's, else the prompt file's, else "default"; each a safe folder name, once. */
export function profileNames(given: readonly string[], book: PromptBook): string[] {
  const names = given.length > 0 ? [...given] : book.profiles?.length ? [...book.profiles] : ['default'];
  for (const name of names) {
    if (!PROFILE_NAME.test(name)) throw new UsageError(`--profile: "${name}" is not a profile name (letters, digits, ".", "_" and "-", at most 64; it names a folder under profiles/)`);
  }
  const twice = names.find((name, i) => names.indexOf(name) !== i);
  if (twice !== undefined) throw new UsageError(`--profile: "${twice}" is given twice; each profile is one browser and can run once`);
  return names;
}

/** Opens every profile's session at once; if one cannot open, the others are closed again and its error ends the run. */
async function openSessions(profiles: readonly string[], opts: Omit<ProfileSessionOptions, 'name'>): Promise<ProfileSession[]> {
  const opened = await Promise.allSettled(profiles.map((name) => ProfileSession.open({ ...opts, name })));
  const failed = opened.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(opened.map((r) => (r.status === 'fulfilled' ? r.value.close() : undefined)));
    throw failed.reason;
  }
  return opened.map((r) => (r as PromiseFulfilledResult<ProfileSession>).value);
}

/**
 * Where a planned job starts in the source: tried before goes first, and one whose conversation an
 * earlier run left stays with the profile that sent it (a record from before profiles were journalled
 * was the first profile's).
 */
export function ticketFor(job: Job, store: JobStore, firstProfile: string): { priority: number; pin?: string; pinnedAt?: number } {
  const record = store.get(job.id);
  const priority = record?.attempts ?? 0;
  if (!record?.conversationUrl || record.state === 'verified' || record.state === 'rejected') return { priority };
  const at = Date.parse(record.updatedAt);
  return { priority, pin: record.profile ?? firstProfile, ...(Number.isFinite(at) ? { pinnedAt: at } : {}) };
}

/**
 * The summary, read from the store: a job counts once however many times it was verified or retried
 * this run, a failure is one only if the job ends failed, and "not run" is what is left.
 */
function summarize(
  book: PromptBook,
  store: JobStore,
  plan: Awaited<ReturnType<typeof planJobs>>,
  ran: ReadonlySet<string>,
  outcome: DispatchOutcome | undefined,
  states: ReadonlyMap<string, string>,
  opts: RunOptions,
  startedAt: number,
  jobs: RunSummary['jobs'],
): RunSummary {
  let verified = 0;
  const failed: RunSummary['failed'] = [];
  for (const id of ran) {
    const record = store.get(id);
    if (record?.state === 'verified') verified += 1;
    else if (record?.state === 'failed' && record.failure?.final) failed.push({ id, kind: record.failure.kind, message: record.failure.message });
  }
  const failedThisRun = failed.length;
  for (const { job, record } of plan.failedBefore) {
    if (ran.has(job.id) || store.get(job.id)?.state !== 'failed') continue;
    failed.push({ id: job.id, kind: record.failure?.kind ?? 'unknown', message: `${record.failure?.message ?? ''} (earlier run; --retry-failed tries again)` });
  }
  const profiles = outcome
    ? [...outcome.profiles].map(([name, p]) => ({ name, verified: p.verified, promptsSent: p.promptsSent, state: (states.get(name) ?? 'finished') as NonNullable<RunSummary['profiles']>[number]['state'], ...(p.retired ? { reason: p.retired } : {}) }))
    : undefined;
  const gap = opts.siteStats?.().minPromptGapMs;
  return {
    book: book.book,
    total: book.jobs.length,
    verified,
    skipped: plan.skipped.length,
    failed,
    stale: plan.stale.map((j) => j.id),
    notRun: ran.size - verified - failedThisRun,
    elapsedMs: Date.now() - startedAt,
    promptsSent: profiles?.reduce((sum, p) => sum + p.promptsSent, 0) ?? 0,
    ...(gap != null ? { siteMinPromptGapMs: gap } : {}),
    ...(outcome?.stopReason ? { stopReason: outcome.stopReason } : {}),
    jobs,
    ...(profiles ? { profiles } : {}),
    ...(plan.sampledFrom !== undefined ? { sampledFrom: plan.sampledFrom } : {}),
  };
}

/** The command line as the journal keeps it: a password in a URL (a fleet's `--redis redis://:secret@host`) is not. */
export function redactArgv(argv: readonly string[]): string[] {
  return argv.map((arg) => arg.replace(/([a-z][a-z0-9+.-]*:\/\/[^:@\/\s]*:)[^@\/\s]+@/gi, '$1***@'));
}

function ordinal(n: number): string {
  return `${n}${n % 10 === 1 && n % 100 !== 11 ? 'st' : n % 10 === 2 && n % 100 !== 12 ? 'nd' : n % 10 === 3 && n % 100 !== 13 ? 'rd' : 'th'}`;
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Removes every `*.part` that is not a folder, a link included: rm unlinks the link itself, never its target. */
export async function removePartFiles(dir: string): Promise<number> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  let removed = 0;
  for (const entry of entries) {
    if (entry.isDirectory() || !entry.name.endsWith('.part')) continue;
    await rm(path.join(entry.parentPath, entry.name), { force: true });
    removed += 1;
  }
  return removed;
}
