// One account of a run (docs/ARCHITECTURE.md §10 "Book run, profile sessions, dispatcher"): the
// profile's lock, its hub, its browser with the extension, its tabs, its gate and the account's
// pacing, its health, and its relaunch when the browser goes away. Brought up by the same bounded
// steps `doctor` and `login` use (src/browser/session.ts), so no step can hang, and everything it
// started is closed again by its own clean-up list.
import type { BrowserContext } from 'playwright';
import { findChromium } from '../browser/discover.js';
import { closeOrphanBrowser } from '../browser/orphans.js';
import { watchReach } from '../browser/reach.js';
import { bounded, Cleanup, launchWithin, lockProfile, startHub } from '../browser/session.js';
import type { Hub } from '../hub/hub.js';
import { DisconnectError, serializeError } from '../protocol/errors.js';
import type { ProviderDescriptor } from '../protocol/provider.js';
import type { ProfileStateName, RunEvents } from '../events.js';
import { Gate, type GateOptions } from '../schedule/gate.js';
import { openProfilePacing, type ProfilePacingFile } from '../store/profile-pacing.js';
import type { AttemptDeps, Tab } from './attempt.js';
import type { DispatchSession, SessionLease } from './dispatcher.js';
import { EvidenceKeeper } from './evidence.js';
import { hubTabOpener, openTab, TabPool } from './tab-pool.js';

/** How long the extension may take to connect after a launch. */
const EXTENSION_TIMEOUT_MS = 30_000;
/** How long opening one tab may take. */
const TAB_TIMEOUT_MS = 45_000;

export interface ProfileSessionOptions {
  readonly name: string;
  readonly profilesDir: string;
  readonly provider: ProviderDescriptor;
  readonly headless: boolean;
  readonly browser?: string;
  /** Tabs (jobs in flight) on this profile, and its pacing. */
  readonly gate: GateOptions;
  readonly bookDir: string;
  readonly trace?: boolean;
  readonly recycleTabsEvery: number;
  readonly events: RunEvents;
  /** Aborted by the second Ctrl-C: every step in progress ends now. */
  readonly hardStop: AbortSignal;
  /** What every attempt of the book shares; the session adds its browser, hub and name. */
  readonly attempt: Omit<AttemptDeps, 'context' | 'hub' | 'provider' | 'profile'>;
  /** A browser that went away is relaunched at most this many times. */
  readonly maxRelaunches: number;
}

/** What an attempt needs from the session, valid until the browser goes away. */
export interface SessionBrowser {
  readonly context: BrowserContext;
  readonly tabs: TabPool;
  readonly evidence: EvidenceKeeper;
  /** Aborted when this browser went away (crashed, killed, window closed). */
  readonly lost: AbortSignal;
}

export class ProfileSession implements DispatchSession {
  readonly name: string;
  readonly lanes: number;
  readonly gate: Gate;
  readonly hub: Hub;
  readonly profileDir: string;
  readonly #opts: ProfileSessionOptions;
  readonly #cleanup: Cleanup;
  readonly #pacing: ProfilePacingFile;
  readonly #extensionDir: string;
  readonly #executablePath: string;
  #browser: SessionBrowser | undefined;
  #lease: SessionLease | undefined;
  #browserCleanup = new Cleanup();
  #relaunching: Promise<SessionLease> | undefined;
  #state: ProfileStateName = 'starting';
  #relaunches = 0;
  #recycledBefore = 0;
  #stopGateEvents: () => void;

  private constructor(opts: ProfileSessionOptions, parts: { cleanup: Cleanup; profileDir: string; hub: Hub; extensionDir: string; executablePath: string; pacing: ProfilePacingFile }) {
    this.name = opts.name;
    this.lanes = opts.gate.concurrency;
    this.#opts = opts;
    this.#cleanup = parts.cleanup;
    this.profileDir = parts.profileDir;
    this.hub = parts.hub;
    this.#extensionDir = parts.extensionDir;
    this.#executablePath = parts.executablePath;
    this.#pacing = parts.pacing;
    this.gate = new Gate(opts.gate, parts.pacing.state());
    this.#stopGateEvents = this.gate.onChange((event) => {
      if (event.type === 'wait') opts.events.emitEvent({ type: 'gate-wait', until: event.until, reason: event.reason, profile: this.name });
    });
    parts.hub.on('log', (level, message) => {
      if (level === 'warn' || level === 'error') opts.events.emitEvent({ type: 'note', message: `extension (${this.name}): ${message}`, profile: this.name });
    });
  }

  /** Locks the profile, reads its pacing, starts its hub and browser and opens its tabs. */
  static async open(opts: ProfileSessionOptions): Promise<ProfileSession> {
    const cleanup = new Cleanup();
    try {
      const note = (message: string) => opts.events.emitEvent({ type: 'note', message, profile: opts.name });
      const executablePath = findChromium(opts.browser);
      const locked = await lockProfile(opts.profilesDir, opts.name, cleanup);
      if (locked.orphan) note(`closed a browser (pid ${locked.orphan}) left running on profile "${opts.name}" by an earlier run`);
      const pacing = await openProfilePacing(locked.profileDir, { onNote: note });
      const { hub, extensionDir } = await startHub(locked.profileDir, opts.provider, cleanup);
      const session = new ProfileSession(opts, { cleanup, profileDir: locked.profileDir, hub, extensionDir, executablePath, pacing });
      cleanup.add(async () => session.#stopGateEvents());
      await session.#launch();
      return session;
    } catch (error) {
      await cleanup.run();
      throw error;
    }
  }

  get state(): ProfileStateName {
    return this.#state;
  }

  get relaunches(): number {
    return this.#relaunches;
  }

  /** Tabs replaced by fresh ones so far, over every browser this session had. */
  get recycledTabs(): number {
    return this.#recycledBefore + (this.#browser?.tabs.recycled ?? 0);
  }

  /** The current browser; undefined while it is being relaunched or after the session closed. */
  get browser(): SessionBrowser | undefined {
    return this.#browser;
  }

  /** Says what this profile is doing now (a `profile-state` event), once per change. */
  setState(state: ProfileStateName, extra: { until?: number; reason?: string } = {}): void {
    if (state === this.#state && extra.until === undefined && extra.reason === undefined) return;
    this.#state = state;
    this.#opts.events.emitEvent({ type: 'profile-state', profile: this.name, state, ...extra });
  }

  /** Writes the gate's state to the profile's pacing file; awaited before the start it announces. */
  savePacing(): Promise<void> {
    return this.#pacing.save(this.gate.state());
  }

  /** The live browser as a lease for attempts; after it went away, one relaunch shared by every lane. */
  ready(): Promise<SessionLease> {
    if (this.#browser && this.#lease && !this.#browser.lost.aborted) return Promise.resolve(this.#lease);
    this.#relaunching ??= (async () => {
      try {
        const max = this.#opts.maxRelaunches;
        if (this.#relaunches >= max) throw new Error(`it went away ${this.#relaunches + 1} times; giving up on it (state saved, --resume continues)`);
        this.#relaunches += 1;
        const message = `the browser went away (crashed, killed or closed); relaunching it (${this.#relaunches}/${max})`;
        this.#opts.events.emitEvent({ type: 'note', message, profile: this.name });
        this.setState('relaunching', { reason: message });
        this.#recycledBefore += this.#browser?.tabs.recycled ?? 0;
        this.#browser = undefined;
        this.#lease = undefined;
        await this.#browserCleanup.run();
        await closeOrphanBrowser(this.profileDir);
        await this.#launch();
        return this.#lease!;
      } finally {
        this.#relaunching = undefined;
      }
    })();
    return this.#relaunching;
  }

  extensionConnected(): boolean {
    return this.hub.connected;
  }

  waitForExtension(ms: number): Promise<void> {
    return this.hub.waitForExtension(ms);
  }

  onProgress(listener: (message: { jobId: string; phase: string; conversationUrl?: string }) => void): () => void {
    this.hub.on('progress', listener);
    return () => void this.hub.off('progress', listener);
  }

  /** Closes the browser, the hub and the lock, each step bounded. */
  async close(): Promise<void> {
    this.#browser = undefined;
    await this.#browserCleanup.run();
    await this.#cleanup.run();
  }

  async #launch(): Promise<SessionBrowser> {
    const opts = this.#opts;
    const cleanup = new Cleanup();
    this.#browserCleanup = cleanup;
    const context = await launchWithin({ profileDir: this.profileDir, extensionDir: this.#extensionDir, executablePath: this.#executablePath, headless: opts.headless }, cleanup, opts.hardStop);
    const lost = new AbortController();
    const onClose = () => lost.abort();
    context.on('close', onClose);
    const onHardStop = () => void context.close().catch(() => undefined);
    opts.hardStop.addEventListener('abort', onHardStop, { once: true });
    cleanup.add(async () => opts.hardStop.removeEventListener('abort', onHardStop));
    await bounded(this.hub.waitForExtension(EXTENSION_TIMEOUT_MS), EXTENSION_TIMEOUT_MS + 1000, `the extension in profile "${this.name}" connecting`, { signal: opts.hardStop });
    const tabs = await this.#openTabs(context, opts.gate.concurrency);
    const evidence = new EvidenceKeeper(context, opts.bookDir, { trace: opts.trace, secrets: () => [this.hub.config().token] });
    await evidence.start();
    cleanup.add(() => evidence.stop());
    const pool = new TabPool(tabs, {
      recycleEvery: opts.recycleTabsEvery,
      opener: hubTabOpener(context, this.hub, opts.provider.baseUrl),
      onRecycleError: (error) => opts.events.emitEvent({ type: 'note', message: `could not open a fresh tab to replace a used one (${serializeError(error).message}); the used tab carries on`, profile: this.name }),
    });
    const browser: SessionBrowser = { context, tabs: pool, evidence, lost: lost.signal };
    const provider = opts.provider;
    this.#browser = browser;
    this.#lease = {
      deps: { ...opts.attempt, context, hub: this.hub, provider, profile: this.name },
      lost: lost.signal,
      takeTab: () => pool.take(),
      giveTab: (tab, mayRecycle) => pool.give(tab, mayRecycle),
      beginEvidence: async (jobId, attempt) => void (await evidence.beginAttempt(jobId, attempt)),
      endEvidence: (jobId, attempt, failed) => evidence.endAttempt(jobId, attempt, failed),
      firstOfKind: (kind, jobId, tab, final) => evidence.firstOfKind(kind, jobId, tab.page, final),
      waitForHuman: (tab, signal) => waitForHuman(tab, provider, signal),
    };
    // The first launch is part of the run's start (before `run-start`); a relaunch is news.
    if (this.#relaunches === 0) this.#state = 'working';
    else this.setState('working');
    return browser;
  }

  /**
   * One tab per concurrent job, opened by the extension so it knows each tab's id. A site that
   * cannot be reached ends here with the URL and Chromium's network error (src/browser/reach.ts).
   */
  async #openTabs(context: BrowserContext, count: number): Promise<Tab[]> {
    const url = this.#opts.provider.baseUrl;
    const initial = context.pages();
    const tabs: Tab[] = [];
    const reach = watchReach(context, url);
    try {
      for (let i = 0; i < count; i++) {
        tabs.push(await reach.race(bounded(openTab(context, this.hub, url, TAB_TIMEOUT_MS), TAB_TIMEOUT_MS + 5000, `opening a tab in profile "${this.name}"`, { signal: this.#opts.hardStop })));
      }
    } finally {
      reach.dispose();
    }
    for (const page of initial) if (page.url() === 'about:blank') await page.close().catch(() => undefined);
    return tabs;
  }
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
