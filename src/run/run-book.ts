// Runs a prompt file to verified images: plan, start the site (mock or real), the hub, the browser
// with the extension, then every job through the profile's gate with typed-failure handling.
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { BrowserContext } from 'playwright';
import { findChromium } from '../browser/discover.js';
import { installExtension, readExtensionId } from '../browser/extension-dir.js';
import { launchBrowser } from '../browser/launch.js';
import { closeOrphanBrowser } from '../browser/orphans.js';
import { HumanNeededError } from '../protocol/errors.js';
import type { RunHooks } from './hooks.js';
import { RunControl } from './run-control.js';
import { startDashboard } from '../dashboard/server.js';
import { ThumbnailCache } from '../report/thumbnails.js';
import { rejectImage } from '../store/rejection.js';
import { Hub } from '../hub/hub.js';
import { startMockSite, type MockSite, type MockSiteOptions } from '../mock/server.js';
import { loadPromptFile } from '../prompts/index.js';
import type { Pacing } from '../prompts/types.js';
import { loadProvider } from '../providers/index.js';
import type { RunEvents, RunSummary } from '../events.js';
import { acquireLock, openJobStore } from '../store/index.js';
import { Gate, pacingToGateOptions } from '../schedule/gate.js';
import type { Tab } from './attempt.js';
import { runJobs, type JobRunnerOptions, type JobsOutcome } from './job-runner.js';
import { openTab } from './tab-pool.js';
import { watchReach } from '../browser/reach.js';
import { planJobs, type PlanOptions } from './plan.js';
import { collectJobOutcomes } from './validation.js';

export interface RunOptions extends PlanOptions {
  readonly file: string;
  readonly out: string;
  readonly profile: string;
  readonly profilesDir: string;
  readonly checkpointsDir: string;
  readonly headless: boolean;
  readonly browser?: string;
  readonly baseUrl?: string;
  /** An updated provider descriptor (JSON) used instead of the built-in one. */
  readonly providerFile?: string;
  /** Start the built-in mock site with these settings and run against it. */
  readonly mock?: MockSiteOptions;
  readonly pacing: Partial<Pacing>;
  readonly retries: number;
  readonly backoffBaseMs: number;
  readonly quotaMarginMs: number;
  readonly rateLimitPauseMs: number;
  readonly generationTimeoutMs: number;
  readonly events: RunEvents;
  /** Aborted on the first Ctrl-C (stop starting) and the second (stop now). */
  readonly interrupt: { soft: AbortSignal; hard: AbortSignal };
  /** Test hooks (crash points); production runs pass none. */
  readonly hooks?: RunHooks;
  /** Serve the live dashboard on 127.0.0.1 (the URL, with its token, is printed).
   * @default true */
  readonly dashboard?: boolean;
  /** @default 0 (any free port) */
  readonly dashboardPort?: number;
  /** Keep a Playwright trace of each failed attempt under .evidence (holds the session cookie). */
  readonly trace?: boolean;
  /** Replace each tab by a fresh one after this many jobs in it (0: never; default in job-runner.ts). */
  readonly recycleTabsEvery?: number;
}

/** A run relaunches a browser that went away at most this many times. */
const MAX_RELAUNCHES = 3;
/** The longest one clean-up step (closing the browser, the hub, the store) may take. */
const CLEANUP_STEP_MS = 20_000;

export async function runBook(opts: RunOptions): Promise<RunSummary> {
  const startedAt = Date.now();
  const book = await loadPromptFile(opts.file);
  // An updated descriptor is checked before anything starts, so a mistake in it costs nothing.
  if (opts.providerFile !== undefined) loadProvider(book.provider, opts.baseUrl, opts.providerFile);
  const pacing: Pacing = { ...book.pacing, ...definedOnly(opts.pacing) };
  const checkpointDir = path.join(opts.checkpointsDir, book.book);
  await mkdir(checkpointDir, { recursive: true });
  const cleanup: Array<() => Promise<unknown>> = [];
  const lock = await acquireLock(path.join(checkpointDir, 'run.lock'), `book "${book.book}"`);
  cleanup.push(() => lock.release());
  try {
    // SEMANTEST_COMPACT_EVERY lets the chaos tests compact often enough to crash inside it.
    const store = await openJobStore(checkpointDir, {
      compactEvery: Number(process.env.SEMANTEST_COMPACT_EVERY) || undefined,
      ...(opts.hooks?.crashPoint ? { onCrashPoint: opts.hooks.crashPoint } : {}),
    });
    cleanup.push(() => store.close());
    const plan = await planJobs(book, store, opts);
    for (const message of plan.notes) opts.events.emitEvent({ type: 'note', message });
    // How each planned job goes, from the events the run emits anyway (the validation report reads it).
    const outcomes = collectJobOutcomes(opts.events, plan.toRun);
    cleanup.push(async () => outcomes.stop());
    // Under the book's lock no `.part` is being written: any left is from a run that was killed.
    const leftovers = await removePartFiles(path.join(opts.out, book.book));
    if (leftovers > 0) opts.events.emitEvent({ type: 'note', message: `removed ${leftovers} unfinished download${leftovers === 1 ? '' : 's'} (.part) left by an earlier run` });
    const summary: RunSummary = {
      book: book.book,
      total: book.jobs.length,
      verified: 0,
      skipped: plan.skipped.length,
      failed: plan.failedBefore.map(({ job, record }) => ({ id: job.id, kind: record.failure?.kind ?? 'unknown', message: `${record.failure?.message ?? ''} (earlier run; --retry-failed tries again)` })),
      stale: plan.stale.map((j) => j.id),
      notRun: 0,
      elapsedMs: 0,
      promptsSent: 0,
      jobs: outcomes.jobs,
      ...(plan.sampledFrom !== undefined ? { sampledFrom: plan.sampledFrom } : {}),
    };
    if (plan.toRun.length > 0) {
      const bookDir = path.resolve(opts.out, book.book);
      const control = new RunControl();
      let dashboardUrl: string | undefined;
      if (opts.dashboard !== false) {
        const thumbnails = await ThumbnailCache.open(bookDir);
        const dashboard = await startDashboard({
          book,
          store,
          events: opts.events,
          control,
          bookDir,
          port: opts.dashboardPort,
          thumbnail: async (png) => {
            const thumb = await thumbnails.thumbnailFor(png);
            if (thumb.made) await thumbnails.save();
            return thumb.file;
          },
          reject: async (job, reason) => {
            await rejectImage(store, { id: job.id, bookDir, outputPath: job.outputPath, reason });
          },
        });
        cleanup.push(() => dashboard.close());
        dashboardUrl = dashboard.url;
      }
      let mock: MockSite | undefined;
      if (opts.mock) {
        mock = await startMockSite({ ...opts.mock });
        const site = mock;
        cleanup.push(() => site.close());
      }
      const provider = loadProvider(book.provider, mock?.url ?? opts.baseUrl, opts.providerFile);
      const profileDir = path.resolve(opts.profilesDir, opts.profile);
      await mkdir(profileDir, { recursive: true });
      const profileLock = await acquireLock(path.join(profileDir, '.semantest.lock'), `profile "${opts.profile}"`);
      cleanup.push(() => profileLock.release());
      const orphan = await closeOrphanBrowser(profileDir);
      if (orphan) opts.events.emitEvent({ type: 'note', message: `closed a browser (pid ${orphan}) left running on profile "${opts.profile}" by an earlier run` });
      const hub = await Hub.start({ extensionId: await readExtensionId(), provider });
      cleanup.push(() => hub.close());
      hub.on('log', (level, message) => {
        if (level === 'warn' || level === 'error') opts.events.emitEvent({ type: 'note', message: `extension: ${message}` });
      });
      const extensionDir = await installExtension(profileDir, hub.config());
      const executablePath = findChromium(opts.browser);
      let context: BrowserContext | undefined;
      cleanup.push(() => context?.close().catch(() => undefined) ?? Promise.resolve());
      opts.interrupt.hard.addEventListener('abort', () => void context?.close().catch(() => undefined), { once: true });
      const launch = async (): Promise<{ context: BrowserContext; tabs: Tab[] }> => {
        const launched = await launchBrowser({ profileDir, extensionDir, executablePath, headless: opts.headless });
        context = launched;
        await hub.waitForExtension(30_000);
        return { context: launched, tabs: await openTabs(launched, hub, provider.baseUrl, Math.min(pacing.concurrency, plan.toRun.length)) };
      };
      let browser = await launch();

      opts.events.emitEvent({
        type: 'run-start',
        book: book.book,
        total: book.jobs.length,
        toRun: plan.toRun.length,
        skipped: plan.skipped.length,
        baseUrl: provider.baseUrl,
        profile: opts.profile,
        headless: opts.headless,
        concurrency: pacing.concurrency,
      });
      if (dashboardUrl) opts.events.emitEvent({ type: 'note', message: `dashboard: ${dashboardUrl}` });
      const gateOptions = { ...pacingToGateOptions(pacing), concurrency: browser.tabs.length };
      const gate = new Gate(gateOptions, store.state().pacing);
      // The pacing rules and every wait the gate imposes reach the status block's ETA.
      const restored = gate.state();
      opts.events.emitEvent({
        type: 'pacing',
        concurrency: gateOptions.concurrency,
        minGapMs: gateOptions.minGapMs,
        jitterMs: gateOptions.jitterMs,
        cooldownEvery: gateOptions.cooldownEvery,
        cooldownMs: gateOptions.cooldownMs,
        startsSinceCooldown: restored.startsSinceCooldown,
        ...(restored.lastStartAt !== undefined ? { lastStartAt: restored.lastStartAt } : {}),
      });
      const stopGateEvents = gate.onChange((event) => {
        if (event.type === 'wait') opts.events.emitEvent({ type: 'gate-wait', until: event.until, reason: event.reason });
      });
      cleanup.push(async () => stopGateEvents());
      await store.record({ t: 'run', event: 'start', pid: process.pid, argv: process.argv.slice(2) });
      const outcome: JobsOutcome = { verified: 0, failed: [], attempts: 0, drift: {} };
      let remaining = plan.toRun;
      // Panels a person sent back from the dashboard belong to the run too, across a relaunch.
      const requeued = new Set<string>();
      control.on('requeue', (id) => requeued.add(id));
      for (let relaunches = 0; ; relaunches++) {
        const jobOptions: JobRunnerOptions = {
          context: browser.context,
          hub,
          store,
          provider,
          gate,
          tabs: browser.tabs,
          book,
          bookDir,
          profile: opts.profile,
          headless: opts.headless,
          hooks: opts.hooks,
          retries: opts.retries,
          backoffBaseMs: opts.backoffBaseMs,
          quotaMarginMs: opts.quotaMarginMs,
          rateLimitPauseMs: opts.rateLimitPauseMs,
          generationTimeoutMs: opts.generationTimeoutMs,
          sendGapMs: Math.round(gateOptions.minGapMs),
          events: opts.events,
          interrupt: opts.interrupt,
          control,
          trace: opts.trace,
          recycleTabsEvery: opts.recycleTabsEvery,
        };
        const part = await runJobs(jobOptions, remaining);
        outcome.verified += part.verified;
        outcome.failed.push(...part.failed);
        outcome.attempts += part.attempts;
        outcome.stopReason = part.stopReason;
        outcome.humanNeeded = part.humanNeeded;
        outcome.fatal = part.fatal;
        for (const [role, index] of Object.entries(part.drift)) outcome.drift[role] = Math.max(outcome.drift[role] ?? 0, index);
        if (part.stopReason !== 'browser-lost') break;
        // Whatever this browser did not finish runs in the next one; a job it had sent is first
        // looked for in its conversation, as after any crash.
        const ended = new Set(part.failed.map((f) => f.id));
        const extra = book.jobs.filter((job) => requeued.has(job.id) && !remaining.includes(job));
        remaining = [...remaining, ...extra].filter((job) => store.get(job.id)?.state !== 'verified' && !ended.has(job.id));
        if (remaining.length === 0) {
          outcome.stopReason = undefined;
          break;
        }
        if (relaunches >= MAX_RELAUNCHES) {
          outcome.stopReason = undefined;
          opts.events.emitEvent({ type: 'note', message: `the browser went away ${relaunches + 1} times; giving up (state saved, --resume continues)` });
          outcome.failed.push(...remaining.map((job) => ({ id: job.id, kind: 'disconnect', message: 'not run: the browser kept going away' })));
          break;
        }
        opts.events.emitEvent({ type: 'note', message: `the browser went away (crashed, killed or closed); relaunching it (${relaunches + 1}/${MAX_RELAUNCHES}) for the ${remaining.length} jobs left` });
        await context?.close().catch(() => undefined);
        await closeOrphanBrowser(profileDir);
        browser = await launch();
      }
      summary.verified = outcome.verified;
      summary.failed.push(...outcome.failed);
      summary.notRun = plan.toRun.length - outcome.verified - outcome.failed.length;
      summary.promptsSent = mock?.stats().prompts ?? outcome.attempts;
      const gap = mock?.stats().minPromptGapMs;
      if (gap != null) summary.siteMinPromptGapMs = gap;
      summary.stopReason = outcome.stopReason === 'browser-lost' ? undefined : outcome.stopReason;
      // Drift is visible before it breaks a run: a role found only by a fallback selector.
      for (const [role, index] of Object.entries(outcome.drift)) {
        const selector = provider.selectors[role as keyof typeof provider.selectors]?.[index];
        opts.events.emitEvent({ type: 'note', message: `the page drifts from the ${provider.name} descriptor: ${role} matched by its ${ordinal(index + 1)} selector${selector ? ` (${selector})` : ''}; update the descriptor before it breaks (--provider-file)` });
      }
      await store.record({ t: 'run', event: 'stop', pid: process.pid, reason: outcome.stopReason ?? 'done' }).catch((error) => {
        if (!outcome.fatal) throw error;
      });
      if (outcome.fatal) {
        // The run stopped for the error: the summary says what was done, the error what to fix.
        summary.elapsedMs = Date.now() - startedAt;
        opts.events.emitEvent({ type: 'run-end', summary });
        throw outcome.fatal;
      }
      if (outcome.humanNeeded) {
        summary.elapsedMs = Date.now() - startedAt;
        opts.events.emitEvent({ type: 'run-end', summary });
        throw new HumanNeededError(`${outcome.humanNeeded.message}. The run stopped with its state saved; log in with \`semantest-run login --profile ${opts.profile}\`, then run again with --resume.`);
      }
    }
    summary.elapsedMs = Date.now() - startedAt;
    opts.events.emitEvent({ type: 'run-end', summary });
    return summary;
  } finally {
    // Never hang on the way out: a wedged browser gets a bounded time to close.
    for (const step of cleanup.reverse()) {
      let timer: NodeJS.Timeout | undefined;
      const bounded = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLEANUP_STEP_MS)));
      await Promise.race([step().catch(() => undefined), bounded]);
      clearTimeout(timer);
    }
  }
}

/**
 * One tab per concurrent job, opened by the extension so it knows each tab's id. A site that
 * cannot be reached ends the run here with the URL and Chromium's network error (src/browser/reach.ts).
 */
async function openTabs(context: BrowserContext, hub: Hub, url: string, count: number): Promise<Tab[]> {
  const initial = context.pages();
  const tabs: Tab[] = [];
  const reach = watchReach(context, url);
  try {
    for (let i = 0; i < count; i++) tabs.push(await reach.race(openTab(context, hub, url)));
  } finally {
    reach.dispose();
  }
  for (const page of initial) if (page.url() === 'about:blank') await page.close().catch(() => undefined);
  return tabs;
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
