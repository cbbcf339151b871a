import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright';
import type { Tab } from './attempt.js';
import { dueForRecycling, TabPool, type TabOpener } from './tab-pool.js';

let nextId = 1;
function fakeTab(): Tab & { closed: boolean } {
  const tab = { tabId: nextId++, closed: false, page: { isClosed: () => tab.closed } as unknown as Page };
  return tab;
}

function fakeOpener(opts: { failOpen?: boolean } = {}): TabOpener & { opened: Tab[]; closedIds: number[]; inFlight: number; maxInFlight: number } {
  const opener = {
    opened: [] as Tab[],
    closedIds: [] as number[],
    inFlight: 0,
    maxInFlight: 0,
    async open(): Promise<Tab> {
      opener.inFlight += 1;
      opener.maxInFlight = Math.max(opener.maxInFlight, opener.inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      opener.inFlight -= 1;
      if (opts.failOpen) throw new Error('the browser did not open a tab');
      const tab = fakeTab();
      opener.opened.push(tab);
      return tab;
    },
    async close(tab: Tab): Promise<void> {
      (tab as Tab & { closed: boolean }).closed = true;
      opener.closedIds.push(tab.tabId);
    },
  };
  return opener;
}

describe('dueForRecycling', () => {
  it('is due once a tab has served N attempts, never with N = 0', () => {
    expect(dueForRecycling(2, 3)).toBe(false);
    expect(dueForRecycling(3, 3)).toBe(true);
    expect(dueForRecycling(1, 1)).toBe(true);
    expect(dueForRecycling(1_000_000, 0)).toBe(false);
  });
});

describe('TabPool', () => {
  it('replaces a tab by a fresh one after every N attempts in it, and closes the old one', async () => {
    const first = fakeTab();
    const opener = fakeOpener();
    const pool = new TabPool([first], { recycleEvery: 3, opener });
    const served: number[] = [];
    for (let i = 0; i < 7; i++) {
      const tab = pool.take();
      served.push(tab.tabId);
      await pool.give(tab);
    }
    const [second, third] = opener.opened;
    // Attempts 1–3 in the first tab, 4–6 in the second, the 7th in the third.
    expect(served).toEqual([first.tabId, first.tabId, first.tabId, second.tabId, second.tabId, second.tabId, third.tabId]);
    expect(opener.closedIds).toEqual([first.tabId, second.tabId]);
    expect(pool.recycled).toBe(2);
  });

  it('never replaces a tab when recycling is off or when the run is stopping (or its browser is gone)', async () => {
    const opener = fakeOpener();
    const off = new TabPool([fakeTab()], { recycleEvery: 0, opener });
    for (let i = 0; i < 5; i++) await off.give(off.take());
    const stopping = new TabPool([fakeTab()], { recycleEvery: 1, opener });
    await stopping.give(stopping.take(), false);
    const gone = fakeTab();
    gone.closed = true;
    const lost = new TabPool([gone], { recycleEvery: 1, opener });
    await lost.give(lost.take(), false);
    expect(lost.take()).toBe(gone);
    expect(opener.opened).toHaveLength(0);
    expect(off.recycled + stopping.recycled + lost.recycled).toBe(0);
  });

  it('replaces a tab a person closed (the browser still running), even when recycling is off', async () => {
    const opener = fakeOpener();
    const gone = fakeTab();
    gone.closed = true;
    const pool = new TabPool([gone], { recycleEvery: 0, opener });
    await pool.give(pool.take());
    const fresh = pool.take();
    expect(fresh).not.toBe(gone);
    expect(opener.opened).toEqual([fresh]);
  });

  it('keeps the used tab in service when a fresh one cannot be opened, and says so', async () => {
    const used = fakeTab();
    const errors: unknown[] = [];
    const pool = new TabPool([used], { recycleEvery: 1, opener: fakeOpener({ failOpen: true }), onRecycleError: (e) => errors.push(e) });
    await pool.give(pool.take());
    expect(pool.take()).toBe(used);
    expect(used.closed).toBe(false);
    expect(errors.map((e) => (e as Error).message)).toEqual(['the browser did not open a tab']);
  });

  it('opens one replacement at a time when several tabs fall due together', async () => {
    const tabs = [fakeTab(), fakeTab(), fakeTab()];
    const opener = fakeOpener();
    const pool = new TabPool(tabs, { recycleEvery: 1, opener });
    const taken = [pool.take(), pool.take(), pool.take()];
    await Promise.all(taken.map((tab) => pool.give(tab)));
    expect(opener.maxInFlight).toBe(1);
    expect(opener.closedIds.sort()).toEqual(tabs.map((t) => t.tabId).sort());
    const now = [pool.take(), pool.take(), pool.take()].map((t) => t.tabId).sort();
    expect(now).toEqual(opener.opened.map((t) => t.tabId).sort());
  });
});
