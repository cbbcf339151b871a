// First contact with the site (ARCHITECTURE "First contact"). When the first tabs cannot load the
// base URL, the user is told which address, which network error Chromium gave, and what to try,
// instead of the extension's "the page in tab N did not load within 20 s" after a long wait.
// The browser's own navigation is watched, not a probe from Node: Chromium may reach the site
// through a proxy or certificates that Node does not know, and a probe would refuse such a site.
import type { BrowserContext, Page, Request } from 'playwright';
import { FatalError } from '../protocol/errors.js';

/**
 * The site could not be reached before anything was sent. Exit code 2 like the other problems
 * the user fixes before a run can start (no browser, no display, a lock): nothing failed, no
 * prompt was spent, and a script that retries on 1 ("some jobs failed") should not loop on it.
 */
export class SiteUnreachableError extends FatalError {
  override readonly exitCode = 2;
}

const WHAT_TO_TRY = 'check the network or --base-url; try "semantest-run doctor" or the built-in mock with --mock';

/** `cannot reach https://chatgpt.com/ (net::ERR_NAME_NOT_RESOLVED): check the network …`. */
export function unreachable(url: string, why: string): SiteUnreachableError {
  return new SiteUnreachableError(`cannot reach ${url} (${why}): ${WHAT_TO_TRY}`);
}

export interface ReachWatch {
  /** `opening`, or the first navigation failure of a tab opened meanwhile, whichever comes first. */
  race<T>(opening: Promise<T>): Promise<T>;
  dispose(): void;
}

/**
 * Watches every tab the context opens from now on: the first main-frame navigation to fail
 * (connection refused, DNS, TLS, reset) rejects `race` at once with the URL and Chromium's
 * error text. A timeout has no such event: `race` then rewrites the extension's "did not load"
 * into the same sentence, naming what the tab shows.
 */
export function watchReach(context: BrowserContext, url: string): ReachWatch {
  const pages: Page[] = [];
  let fail: (error: Error) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  failed.catch(() => undefined);
  const onRequestFailed = (page: Page) => (request: Request) => {
    if (!request.isNavigationRequest() || request.frame() !== page.mainFrame()) return;
    fail(unreachable(request.url(), request.failure()?.errorText ?? 'the request failed'));
  };
  const listeners = new Map<Page, (request: Request) => void>();
  const onPage = (page: Page) => {
    const listener = onRequestFailed(page);
    listeners.set(page, listener);
    pages.push(page);
    page.on('requestfailed', listener);
  };
  context.on('page', onPage);
  return {
    async race(opening) {
      opening.catch(() => undefined);
      try {
        return await Promise.race([opening, failed]);
      } catch (error) {
        if (error instanceof SiteUnreachableError || !/did not load within/.test((error as Error).message)) throw error;
        const shows = pages.at(-1)?.url() ?? '';
        const seconds = /within (\d+ s)/.exec((error as Error).message)?.[1] ?? 'the time allowed';
        // Another site in the tab is most often a log-in page on another host, not a network fault.
        if (/^https?:/.test(shows) && new URL(shows).origin !== new URL(url).origin) {
          throw new SiteUnreachableError(`${url} did not load within ${seconds}: the tab shows ${shows}; if that is a log-in page, run "semantest-run login", else try "semantest-run doctor"`);
        }
        throw unreachable(url, `no page within ${seconds}`);
      }
    },
    dispose() {
      context.off('page', onPage);
      for (const [page, listener] of listeners) page.off('requestfailed', listener);
    },
  };
}
