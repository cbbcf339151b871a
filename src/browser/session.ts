// The steps a command takes to get a browser on a profile, for `doctor` and `login` (a run has its
// own in run/run-book.ts): the profile lock, a browser left by a killed run, the hub, the
// extension's per-profile copy, the launch and a tab the extension opens. Each wait is bounded, so
// nothing hangs, and everything started goes on a clean-up list that closes it again, each step
// bounded too (ARCHITECTURE §2, §3).
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright';
import { Hub } from '../hub/hub.js';
import { FatalError, InterruptedError, UsageError } from '../protocol/errors.js';
import { PROFILE_NAME } from '../prompts/schema.js';
import type { ProviderDescriptor } from '../protocol/provider.js';
import { acquireLock } from '../store/index.js';
import { builtExtensionDir, installExtension, readExtensionId } from './extension-dir.js';
import { launchBrowser } from './launch.js';
import { closeOrphanBrowser } from './orphans.js';

/** The longest one clean-up step (closing the browser, the hub, a lock) may take. */
export const CLEANUP_STEP_MS = 20_000;
/** The longest a launch may take before it counts as failed (Playwright's own default is 180 s). */
export const LAUNCH_TIMEOUT_MS = 60_000;

/** A deadline passed: the message says what did not finish, and within how long. */
export class DeadlineError extends FatalError {}

/**
 * `work` or, after `ms`, a DeadlineError saying "<what> did not finish within N s"; an aborted
 * `signal` ends the wait at once with an InterruptedError. A value that arrives after the wait
 * ended goes to `onLate` (a browser that started too late is closed there, not leaked).
 */
export function bounded<T>(
  work: Promise<T>,
  ms: number,
  what: string,
  opts: { signal?: AbortSignal; onLate?: (value: T) => void } = {},
): Promise<T> {
  const { signal, onLate } = opts;
  if (signal?.aborted) {
    void work.then((value) => onLate?.(value), () => undefined);
    return Promise.reject(new InterruptedError('interrupted'));
  }
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const finish = () => {
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const timer = setTimeout(() => {
      finish();
      reject(new DeadlineError(`${what} did not finish within ${formatSeconds(ms)}`));
    }, ms);
    const onAbort = () => {
      finish();
      reject(new InterruptedError('interrupted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        if (settled) return onLate?.(value);
        finish();
        resolve(value);
      },
      (error: unknown) => {
        if (settled) return;
        finish();
        reject(error);
      },
    );
  });
}

function formatSeconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`;
}

/** What was started, closed again in reverse order; each step gets a bounded time and its errors are ignored. */
export class Cleanup {
  readonly #steps: Array<() => Promise<unknown>> = [];

  add(step: () => Promise<unknown>): void {
    this.#steps.push(step);
  }

  async run(stepMs = CLEANUP_STEP_MS): Promise<void> {
    for (let step = this.#steps.pop(); step; step = this.#steps.pop()) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, stepMs)));
      await Promise.race([Promise.resolve().then(step).catch(() => undefined), late]);
      clearTimeout(timer);
    }
  }
}

/**
 * Takes `profiles/<name>/.semantest.lock` (one run, login or doctor per profile; a live holder is
 * refused with a LockedError naming its pid), then closes a browser a killed run left on the profile.
 */
/** A profile is a folder directly under the profiles folder: `..`, a slash or an empty name never is. */
export function checkProfileName(profile: string): void {
  if (!PROFILE_NAME.test(profile)) throw new UsageError(`--profile: "${profile}" is not a profile name (letters, digits, ".", "_" and "-", at most 64; it names a folder under profiles/)`);
}

export async function lockProfile(profilesDir: string, profile: string, cleanup: Cleanup): Promise<{ profileDir: string; created: boolean; orphan?: number }> {
  checkProfileName(profile);
  const profileDir = path.resolve(profilesDir, profile);
  const created = !existsSync(profileDir);
  await mkdir(profileDir, { recursive: true });
  const lock = await acquireLock(path.join(profileDir, '.semantest.lock'), `profile "${profile}"`);
  cleanup.add(() => lock.release());
  const orphan = await closeOrphanBrowser(profileDir);
  return { profileDir, created, ...(orphan ? { orphan } : {}) };
}

/** Starts the hub for `provider` and copies the extension into the profile with the hub's address. */
export async function startHub(profileDir: string, provider: ProviderDescriptor, cleanup: Cleanup): Promise<{ hub: Hub; extensionDir: string }> {
  if (!existsSync(path.join(builtExtensionDir(), 'manifest.json'))) {
    throw new FatalError(`the extension is not built (${builtExtensionDir()} is missing): run \`npm run build\``);
  }
  const hub = await Hub.start({ extensionId: await readExtensionId(), provider });
  cleanup.add(() => hub.close());
  const extensionDir = await installExtension(profileDir, hub.config());
  return { hub, extensionDir };
}

/** Launches the browser on the profile with the extension, within `LAUNCH_TIMEOUT_MS`; closed by `cleanup`. */
export async function launchWithin(
  opts: { profileDir: string; extensionDir: string; executablePath: string; headless: boolean },
  cleanup: Cleanup,
  signal?: AbortSignal,
): Promise<BrowserContext> {
  let context: BrowserContext | undefined;
  cleanup.add(async () => context?.close());
  context = await bounded(launchBrowser(opts), LAUNCH_TIMEOUT_MS, 'the browser launch', {
    signal,
    onLate: (late) => void late.close().catch(() => undefined),
  });
  return context;
}

/**
 * Has the extension open `url` in a window of its own (the hub's `open-tab`, as a run does) and
 * returns its tab id and Playwright page. A failure says which address the tab shows, if it opened
 * (a redirect to a log-in site on another host never gets the content script, so never loads).
 */
export async function openTab(context: BrowserContext, hub: Hub, url: string, timeoutMs: number, signal?: AbortSignal): Promise<{ tabId: number; page?: Page }> {
  const opened = context.waitForEvent('page', { timeout: timeoutMs }).catch(() => undefined);
  try {
    const reply = await bounded(hub.request({ type: 'open-tab', url }, timeoutMs), timeoutMs + 1000, 'open-tab', { signal });
    const page = await bounded(opened, 2000, 'the new tab').catch(() => undefined);
    return { tabId: reply.tabId, ...(page ? { page } : {}) };
  } catch (error) {
    if (error instanceof InterruptedError) throw error;
    const page = await bounded(opened, 2000, 'the new tab').catch(() => undefined);
    const shows = page && page.url() !== url ? ` (the tab shows ${page.url()})` : '';
    throw new FatalError(`${(error as Error).message}${shows}`);
  }
}

/** An AbortSignal aborted by Ctrl-C (or SIGTERM) until `dispose` is called. */
export function interruptSignal(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
