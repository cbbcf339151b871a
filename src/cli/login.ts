// `semantest-run login`: a window on the provider with the profile, so the person logs in once by
// hand. It ends by itself when the chat's composer shows (and no "Log in" button beside it), then
// closes the browser: exit 0. The window closed first, or no log-in before --timeout: exit 1.
import type { BrowserContext, Page } from 'playwright';
import { findChromium } from '../browser/discover.js';
import { Cleanup, bounded, checkProfileName, interruptSignal, launchWithin, lockProfile, startHub } from '../browser/session.js';
import { FatalError, InterruptedError, UsageError } from '../protocol/errors.js';
import type { ProviderDescriptor } from '../protocol/provider.js';
import { loadProvider } from '../providers/index.js';

export interface LoginOptions {
  readonly profile: string;
  readonly profilesDir: string;
  readonly browser?: string;
  readonly baseUrl?: string;
  /** Refused: a log-in needs a window. */
  readonly headless?: boolean;
  /** @default 600 */
  readonly timeoutSeconds?: number;
  readonly write?: (text: string) => void;
}

const POLL_MS = 500;
/** No page left open this long (while the browser is still exiting) counts as the window closed. */
const NO_PAGES_MS = 1_500;
/** One look at a page; a page in the middle of a navigation is simply looked at again. */
const LOOK_TIMEOUT_MS = 3_000;

export async function runLogin(opts: LoginOptions): Promise<number> {
  checkProfileName(opts.profile);
  if (opts.headless) throw new UsageError('login needs a window you can type in; run it without --headless (on a server, under xvfb-run)');
  const timeoutSeconds = opts.timeoutSeconds ?? 600;
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) throw new UsageError(`--timeout expects a number of seconds > 0, got ${timeoutSeconds}`);
  const write = opts.write ?? ((text: string) => void process.stdout.write(text));
  const provider = loadProvider('chatgpt', opts.baseUrl);
  const executablePath = findChromium(opts.browser);
  const cleanup = new Cleanup();
  const interrupt = interruptSignal();
  try {
    const { profileDir } = await lockProfile(opts.profilesDir, opts.profile, cleanup);
    // The extension as a run installs it, so the profile's copy and its worker match the build.
    const { extensionDir } = await startHub(profileDir, provider, cleanup);
    const context = await launchWithin({ profileDir, extensionDir, executablePath, headless: false }, cleanup, interrupt.signal);
    const page = context.pages()[0] ?? (await context.newPage());
    // A site that does not load is the person's to retry in the window; the wait below still ends.
    void page.goto(provider.baseUrl, { timeout: 60_000 }).catch(() => undefined);
    write(
      `Log in to ${provider.baseUrl} in the window. This ends by itself once the chat's message box shows ` +
        `(waiting up to ${timeoutSeconds} s; Ctrl-C stops). The session stays in ${profileDir}.\n`,
    );
    await waitForLogin(context, provider, timeoutSeconds * 1000, interrupt.signal);
    write(`profile ${opts.profile} is ready: logged in to ${provider.baseUrl}\n`);
    return 0;
  } catch (error) {
    if (error instanceof InterruptedError) throw new InterruptedError('login interrupted (Ctrl-C): the profile may not be logged in yet');
    throw error;
  } finally {
    interrupt.dispose();
    await cleanup.run();
  }
}

/** Resolves once a page on the provider's site shows the composer and no log-in button. */
async function waitForLogin(context: BrowserContext, provider: ProviderDescriptor, timeoutMs: number, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let closed = false;
  let wake = () => {};
  context.once('close', () => {
    closed = true;
    wake();
  });
  let noPagesSince: number | undefined;
  for (;;) {
    if (signal.aborted) throw new InterruptedError('interrupted');
    if (closed) throw new FatalError('the window was closed before the log-in finished');
    const pages = context.pages();
    if (pages.length === 0) {
      noPagesSince ??= Date.now();
      if (Date.now() - noPagesSince >= NO_PAGES_MS) throw new FatalError('the window was closed before the log-in finished');
    } else noPagesSince = undefined;
    for (const page of pages) if (await loggedIn(page, provider)) return;
    if (Date.now() >= deadline) {
      throw new FatalError(
        `no log-in within ${Math.round(timeoutMs / 1000)} s: the chat's message box never showed on ${provider.baseUrl}. ` +
          'Run semantest-run login again (--timeout S allows longer).',
      );
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, POLL_MS);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
      signal.addEventListener('abort', wake, { once: true });
    });
    signal.removeEventListener('abort', wake);
  }
}

/** The page is on the provider's site and shows a visible composer, and no visible log-in button. */
async function loggedIn(page: Page, provider: ProviderDescriptor): Promise<boolean> {
  if (page.isClosed()) return false;
  try {
    if (new URL(page.url()).origin !== new URL(provider.baseUrl).origin) return false;
  } catch {
    return false;
  }
  const look = page.evaluate(
    ({ composer, login }) => {
      const shown = (selectors: string[]) =>
        selectors.some((selector) => {
          try {
            return [...document.querySelectorAll<HTMLElement>(selector)].some((el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden');
          } catch {
            return false; // a selector this browser cannot parse matches nothing
          }
        });
      return shown(composer) && !shown(login);
    },
    { composer: provider.selectors.composer, login: provider.selectors.login },
  );
  // A page between two documents (a log-in redirect) has no answer: look again next time.
  return bounded(look, LOOK_TIMEOUT_MS, 'a look at the page').catch(() => false);
}
