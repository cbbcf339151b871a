// The run's tabs, one per gate slot. The gate is the only limit on jobs in flight; a job holding a
// slot always finds a free tab here, so this is a free list, not a second queue.
//
// A tab that has served `recycleEvery` attempts is replaced by a fresh one (opened through the hub,
// like the first ones) before it goes back on the list: a renderer that has shown hundreds of chats
// holds memory the page never gives back (docs/ARCHITECTURE.md "Long runs"). The caller gives the
// tab back while it still holds the job's gate slot, so a replacement never happens mid-job and no
// other job can be waiting for this tab.

import type { BrowserContext } from 'playwright';
import type { Hub } from '../hub/hub.js';
import type { Tab } from './attempt.js';

/**
 * Tabs are replaced after this many attempts each unless the run says otherwise. Measured with
 * bench/soak.ts (docs/ARCHITECTURE.md "Long runs"): a tab's renderer gains 2–4 MB per chat that it
 * frees only when it is idle enough to collect, so at 50 it still reached 250 MB on a busy run; at
 * 10 it stays near a fresh tab's (about 110 MB), for one more page load per 10 jobs (each loads one).
 */
export const DEFAULT_RECYCLE_TABS_EVERY = 10;

/** How a tab is opened and closed; the run passes the hub's, the unit tests fakes. */
export interface TabOpener {
  /** A fresh tab; `replacing` is the tab it replaces (the fresh one opens in its window). */
  open(replacing?: Tab): Promise<Tab>;
  close(tab: Tab): Promise<void>;
}

export interface TabPoolOptions {
  /** Replace a tab after this many attempts in it; 0 never does. */
  readonly recycleEvery?: number;
  readonly opener?: TabOpener;
  /** A replacement could not be opened: the old tab stays in service. */
  readonly onRecycleError?: (error: unknown) => void;
}

/** Whether a tab that has served `uses` attempts is due for a replacement. */
export function dueForRecycling(uses: number, recycleEvery: number): boolean {
  return recycleEvery > 0 && uses >= recycleEvery;
}

export class TabPool {
  readonly #free: Tab[];
  readonly #uses = new Map<Tab, number>();
  readonly #opts: TabPoolOptions;
  /** One opening at a time: a new tab is matched to the next page the context announces. */
  #opening: Promise<unknown> = Promise.resolve();
  #recycled = 0;

  constructor(tabs: readonly Tab[], opts: TabPoolOptions = {}) {
    this.#free = [...tabs];
    this.#opts = opts;
  }

  /** How many tabs were replaced so far. */
  get recycled(): number {
    return this.#recycled;
  }

  /** A free tab; the caller holds a gate slot, so there is one. */
  take(): Tab {
    const tab = this.#free.pop();
    if (!tab) throw new Error('no free tab although a gate slot was granted: the gate allows more jobs than there are tabs');
    return tab;
  }

  /**
   * Back on the free list after an attempt, first replaced by a fresh tab if it is due (and
   * `mayRecycle`: not while the run is stopping or the browser is gone).
   */
  async give(tab: Tab, mayRecycle = true): Promise<void> {
    const uses = (this.#uses.get(tab) ?? 0) + 1;
    this.#uses.set(tab, uses);
    const { recycleEvery = 0, opener } = this.#opts;
    // A tab whose window a person closed (the browser still running) would fail every later job: replaced too.
    const closed = tab.page.isClosed();
    if (!mayRecycle || !opener || !(closed || dueForRecycling(uses, recycleEvery))) {
      this.#free.push(tab);
      return;
    }
    let fresh: Tab;
    try {
      fresh = await this.#serially(() => opener.open(closed ? undefined : tab));
    } catch (error) {
      // The old tab still works: keep it, and try again after its next attempt.
      this.#opts.onRecycleError?.(error);
      this.#free.push(tab);
      return;
    }
    this.#uses.delete(tab);
    this.#recycled += 1;
    this.#free.push(fresh);
    await opener.close(tab).catch(() => undefined);
  }

  #serially<T>(step: () => Promise<T>): Promise<T> {
    const turn = this.#opening.then(step);
    this.#opening = turn.catch(() => undefined);
    return turn;
  }
}

/** Opens one tab through the extension (so it knows the tab's id) and its Playwright page. */
export async function openTab(context: BrowserContext, hub: Hub, url: string, timeoutMs = 30_000, replaceTabId?: number): Promise<Tab> {
  const request = { type: 'open-tab' as const, url, ...(replaceTabId !== undefined ? { replaceTabId } : {}) };
  const [page, reply] = await Promise.all([context.waitForEvent('page', { timeout: timeoutMs }), hub.request(request, timeoutMs)]);
  return { page, tabId: reply.tabId };
}

/** Opening and closing tabs through the hub, for a pool that recycles them. */
export function hubTabOpener(context: BrowserContext, hub: Hub, url: string): TabOpener {
  return {
    open: (replacing) => openTab(context, hub, url, undefined, replacing?.tabId),
    close: (tab) => tab.page.close(),
  };
}
